import { createHash, timingSafeEqual } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { badConfig, checkConfig } from './config.js';
import {
  type AuthOutcome,
  type Claims,
  insufficientScope,
  invalidCredential,
  missingCredential,
} from './outcome.js';
import { headerValue, queryParam, type RequestLike } from './request.js';
import { missingScopes } from './scopes.js';

const HASH = /^sha256:[0-9a-f]{64}$/;

/** One API key: its SHA-256 hash and whom it stands for. */
export const ApiKeyEntrySchema = Type.Object(
  {
    /** `sha256:<64 hex>` of the key (`hashApiKey`); the key itself never sits in config. */
    hash: Type.String({ pattern: HASH.source }),
    /** Client the key belongs to; becomes `sub` and `client_id`. */
    clientId: Type.String({ minLength: 1 }),
    /** Scopes the key grants. */
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

/** The `apiKey` section of a route's `auth`. */
export const ApiKeyAuthSchema = Type.Object(
  {
    /** Request header carrying the key. Default `x-api-key`. */
    header: Type.Optional(Type.String({ minLength: 1 })),
    /** Query parameter carrying the key, when keys may come in the URL (they then show in logs). */
    query: Type.Optional(Type.String({ minLength: 1 })),
    keys: Type.Array(ApiKeyEntrySchema, { minItems: 1 }),
    /** Scopes the key must all grant on this route. */
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

/** Configuration of API keys for a route. */
export type ApiKeyAuthConfig = Static<typeof ApiKeyAuthSchema>;

/** The `hash` to put in config for an API key. */
export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** Issuer named in the claims an API key stands for. */
export const API_KEY_ISSUER = 'flotilla:api-key';

interface Entry {
  digest: Buffer;
  claims: Claims;
}

/** Checks API keys for one route and turns a good key into claims, as a token would carry. */
export class ApiKeyVerifier {
  readonly header: string;
  readonly query: string | undefined;
  private readonly entries: Entry[];
  private readonly scopes: string[];

  constructor(config: ApiKeyAuthConfig, field = 'apiKey') {
    checkConfig(ApiKeyAuthSchema, config, field);
    this.header = (config.header ?? 'x-api-key').toLowerCase();
    this.query = config.query;
    this.scopes = config.scopes ?? [];
    const seen = new Set<string>();
    this.entries = config.keys.map((k, i) => {
      if (seen.has(k.hash)) badConfig(`${field}.keys.${i}.hash`, 'unique', k.hash);
      seen.add(k.hash);
      const claims: Claims = { sub: k.clientId, client_id: k.clientId, iss: API_KEY_ISSUER };
      if (k.scopes && k.scopes.length > 0) claims.scope = k.scopes.join(' ');
      return { digest: Buffer.from(k.hash.slice('sha256:'.length), 'hex'), claims };
    });
  }

  /** The key a request presents (header first, then query), or undefined. */
  presented(req: RequestLike): string | undefined {
    const fromHeader = headerValue(req, this.header);
    if (fromHeader !== undefined && fromHeader !== '') return fromHeader;
    return this.query === undefined ? undefined : queryParam(req, this.query) || undefined;
  }

  /** Authenticates the key a request presents. */
  authenticate(req: RequestLike): AuthOutcome {
    const key = this.presented(req);
    if (key === undefined) return missingCredential('ApiKey', `An API key is required in ${this.where()}`);
    return this.verify(key);
  }

  /** Checks one key and the route's scopes. */
  verify(key: string): AuthOutcome {
    const digest = createHash('sha256').update(key).digest();
    // Compare against every entry, without stopping at a match, so timing tells nothing about
    // which key (or how much of one) matched.
    let match: Entry | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) match ??= entry;
    }
    if (match === undefined) return invalidCredential('ApiKey', 'The API key is not valid');
    const missing = missingScopes(match.claims, this.scopes);
    if (missing.length > 0) {
      return insufficientScope('ApiKey', `The API key lacks the scope ${missing.join(' ')}`, this.scopes);
    }
    return { ok: true, method: 'api-key', claims: { ...match.claims } };
  }

  private where(): string {
    return this.query === undefined
      ? `the ${this.header} header`
      : `the ${this.header} header or ?${this.query}=`;
  }
}
