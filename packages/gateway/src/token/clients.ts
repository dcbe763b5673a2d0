import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { checkConfig } from '../auth/config.js';

/** An OAuth2 client of the development issuer. */
export const IssuerClientSchema = Type.Object(
  {
    clientId: Type.String({ minLength: 1 }),
    /** The secret in clear (development) or `sha256:<hex>` of it. */
    secret: Type.String({ minLength: 1 }),
    /** Scopes the client may ask for; it gets all of them when it asks for none. */
    scopes: Type.Array(Type.String({ minLength: 1 })),
    /** Audience of its tokens; default the issuer's. */
    audience: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/** Contents of a clients file (`clients.json` or YAML): `{ clients: [...] }` or the bare list. */
export const IssuerClientsFileSchema = Type.Union([
  Type.Object({ clients: Type.Array(IssuerClientSchema) }, { additionalProperties: false }),
  Type.Array(IssuerClientSchema),
]);

export type IssuerClient = Static<typeof IssuerClientSchema>;

/** Reads and validates a clients file; errors name the file and the field. */
export async function readClientsFile(path: string): Promise<IssuerClient[]> {
  const text = await readFile(path, 'utf8');
  const data: unknown = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  const valid = checkConfig(IssuerClientsFileSchema, data, path);
  return Array.isArray(valid) ? valid : valid.clients;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Looks clients up by id and checks secrets in constant time. */
export class ClientRegistry {
  private readonly clients = new Map<string, { client: IssuerClient; digest: Buffer }>();

  constructor(clients: readonly IssuerClient[]) {
    for (const client of clients) {
      const stored = /^sha256:[0-9a-f]{64}$/.test(client.secret)
        ? Buffer.from(client.secret.slice(7), 'hex')
        : digest(client.secret);
      this.clients.set(client.clientId, { client, digest: stored });
    }
  }

  /** The client when `secret` is its secret; undefined otherwise (unknown id or wrong secret). */
  authenticate(clientId: string, secret: string): IssuerClient | undefined {
    const entry = this.clients.get(clientId);
    // Hash even for an unknown id, so response time does not reveal which ids exist.
    const presented = digest(secret);
    const ok = timingSafeEqual(entry?.digest ?? presented.map((b) => b ^ 0xff), presented);
    return ok && entry ? entry.client : undefined;
  }
}
