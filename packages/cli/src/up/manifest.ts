import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigurationError, compileValidator, parseYamlDocument } from '@flotilla/core';
import { type Static, Type } from '@sinclair/typebox';

const Port = Type.Integer({ minimum: 1, maximum: 65_535 });
const Name = Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' });

/** `flotilla.yaml`: the platform components and the services of one system. */
export const ManifestSchema = Type.Object(
  {
    name: Type.Optional(Name),
    platform: Type.Optional(
      Type.Object(
        {
          /** `embedded` (default) or `external` (services get DATABASE_URL / FLOTILLA_POSTGRES_URL from the environment). */
          postgres: Type.Optional(Type.Union([Type.Literal('embedded'), Type.Literal('external')])),
          registry: Type.Optional(
            Type.Object({ port: Type.Optional(Port) }, { additionalProperties: false }),
          ),
          config: Type.Optional(
            Type.Object(
              { port: Type.Optional(Port), dir: Type.Optional(Type.String({ minLength: 1 })) },
              { additionalProperties: false },
            ),
          ),
          issuer: Type.Optional(Type.Object({ port: Type.Optional(Port) }, { additionalProperties: false })),
          gateway: Type.Optional(
            Type.Object(
              {
                port: Type.Optional(Port),
                adminPort: Type.Optional(Port),
                routes: Type.String({ minLength: 1 }),
              },
              { additionalProperties: false },
            ),
          ),
          /** `postgres`: a `flotilla_bus` database on the system's PostgreSQL; or a broker URL. */
          bus: Type.Optional(Type.String({ minLength: 1 })),
          /** FLOTILLA_ENV of every process; default `dev`. */
          env: Type.Optional(Type.String({ minLength: 1 })),
        },
        { additionalProperties: false },
      ),
    ),
    services: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            /** Program and arguments, run in the manifest's directory. */
            command: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
            instances: Type.Optional(Type.Integer({ minimum: 0, maximum: 64 })),
            /** Services that must be up before this one starts. */
            dependsOn: Type.Optional(Type.Array(Name)),
            env: Type.Optional(Type.Record(Type.String(), Type.String())),
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false },
);

export type Manifest = Static<typeof ManifestSchema>;
export type ServiceSpec = NonNullable<Manifest['services']>[string];

/** A loaded manifest: its content, where it lives, and services in start order. */
export interface LoadedManifest {
  readonly manifest: Manifest;
  /** Directory relative paths and commands resolve against. */
  readonly dir: string;
  readonly file: string;
  /** Service names, dependencies first. */
  readonly order: string[];
}

const validator = compileValidator(ManifestSchema);

/** Reads and checks `flotilla.yaml`; errors name `file:line:column` and the field. */
export async function loadManifest(file: string): Promise<LoadedManifest> {
  const path = resolve(file);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigurationError(`${file}: cannot read the manifest: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const doc = parseYamlDocument(text, file);
  const value = doc.value ?? {};
  const at = (pointer: string) => {
    const pos = doc.locate(pointer);
    return pos ? `${file}:${pos.line}:${pos.column}` : file;
  };
  const first = validator.errors(value)[0];
  if (first) throw new ConfigurationError(`${at(first.field)}: ${first.field}: ${first.message}`);
  const manifest = value as Manifest;
  const services = manifest.services ?? {};
  for (const [name, spec] of Object.entries(services)) {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(name)) {
      throw new ConfigurationError(
        `${at(`/services/${name}`)}: service names should be lowercase letters, digits and dashes, got "${name}"`,
      );
    }
    for (const [i, dep] of (spec.dependsOn ?? []).entries()) {
      if (!(dep in services)) {
        throw new ConfigurationError(
          `${at(`/services/${name}/dependsOn/${i}`)}: ${name} depends on "${dep}", which the manifest does not declare`,
        );
      }
    }
  }
  return { manifest, dir: dirname(path), file: path, order: startOrder(services, at) };
}

/** Dependencies first (Kahn's algorithm, manifest order among equals); a cycle is an error naming it. */
export function startOrder(
  services: Record<string, { dependsOn?: string[] }>,
  at: (pointer: string) => string = () => 'flotilla.yaml',
): string[] {
  const order: string[] = [];
  const placed = new Set<string>();
  const names = Object.keys(services);
  while (order.length < names.length) {
    const next = names.find(
      (n) => !placed.has(n) && (services[n]?.dependsOn ?? []).every((d) => placed.has(d)),
    );
    if (next === undefined) {
      const cycle = names.filter((n) => !placed.has(n));
      throw new ConfigurationError(`${at('/services')}: dependsOn forms a cycle among ${cycle.join(', ')}`);
    }
    order.push(next);
    placed.add(next);
  }
  return order;
}

/** `--scale svc=N` values, checked against the manifest. */
export function parseScale(values: readonly string[], manifest: Manifest): Map<string, number> {
  const out = new Map<string, number>();
  for (const value of values) {
    const m = /^([a-z][a-z0-9-]*)=(\d{1,2})$/.exec(value);
    if (!m) throw new ConfigurationError(`--scale should be <service>=<instances>, got "${value}"`);
    const [, name, count] = m as unknown as [string, string, string];
    if (!manifest.services?.[name]) {
      throw new ConfigurationError(`--scale names "${name}", which the manifest does not declare`);
    }
    out.set(name, Number(count));
  }
  return out;
}
