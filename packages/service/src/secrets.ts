import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigurationError } from '@flotilla/core';

/** Where secrets are looked up, in this order. */
export interface SecretSources {
  /** Environment variables: `db-password` is read from `DB_PASSWORD`. */
  env: NodeJS.ProcessEnv;
  /**
   * A directory with one file per secret (Kubernetes secret volume, Docker secrets): the file
   * `db-password` holds the value. Default `FLOTILLA_SECRETS_DIR`, else `/run/secrets` if present.
   */
  dir?: string;
  /** The `secrets` section of the service's config (the config server decrypts `{cipher}` values). */
  config?: Readonly<Record<string, unknown>>;
}

const SECRET_NAME = /^[A-Za-z][A-Za-z0-9._-]{0,127}$/;
/** Values shorter than this are not scrubbed from logs: they would blank out ordinary words. */
const MIN_SCRUB_LENGTH = 4;

/** Environment variable a secret is read from. */
export function secretEnvName(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * A service's secrets. Values are read with `get`; the object itself prints as redacted, and
 * `scrub` removes every value from a log line, so a secret that ends up in a message or an
 * error still never reaches the logs.
 */
export class Secrets {
  private readonly values = new Map<string, string>();
  private sorted: string[] = [];

  /** The value of a declared secret. */
  get(name: string): string {
    const value = this.values.get(name);
    if (value === undefined)
      throw new ConfigurationError(`Secret "${name}" was not declared in createService({ secrets })`);
    return value;
  }

  /** Names of the secrets held. */
  names(): string[] {
    return [...this.values.keys()];
  }

  /** Replaces every secret value in `line`. */
  scrub(line: string): string {
    let out = line;
    for (const value of this.sorted) {
      if (out.includes(value)) out = out.replaceAll(value, '[redacted]');
      const escaped = JSON.stringify(value).slice(1, -1);
      if (escaped !== value && out.includes(escaped)) out = out.replaceAll(escaped, '[redacted]');
    }
    return out;
  }

  /** Resolves each declared secret from the sources; fails naming what is missing and where it looked. */
  static async load(names: readonly string[], sources: SecretSources): Promise<Secrets> {
    const secrets = new Secrets();
    const dir =
      sources.dir ??
      sources.env.FLOTILLA_SECRETS_DIR ??
      (existsSync('/run/secrets') ? '/run/secrets' : undefined);
    const missing: string[] = [];
    for (const name of names) {
      if (!SECRET_NAME.test(name)) {
        throw new ConfigurationError(
          `Secret names should be letters, digits, ".", "_" or "-", got "${name}"`,
        );
      }
      const value = await find(name, sources, dir);
      if (value === undefined) missing.push(name);
      else secrets.values.set(name, value);
    }
    if (missing.length > 0) {
      const where = [
        `environment (${missing.map(secretEnvName).join(', ')})`,
        dir ? `files in ${dir}` : 'no secrets directory (FLOTILLA_SECRETS_DIR)',
        'the config server (secrets.<name>)',
      ].join(', ');
      throw new ConfigurationError(
        `Missing secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: looked in ${where}`,
        {
          data: { missing },
        },
      );
    }
    secrets.sorted = [...secrets.values.values()]
      .filter((v) => v.length >= MIN_SCRUB_LENGTH)
      .sort((a, b) => b.length - a.length);
    return secrets;
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries(this.names().map((n) => [n, '[redacted]']));
  }

  [inspect.custom](): string {
    return `Secrets { ${this.names().join(', ')} }`;
  }
}

async function find(
  name: string,
  sources: SecretSources,
  dir: string | undefined,
): Promise<string | undefined> {
  const fromEnv = sources.env[secretEnvName(name)];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (dir) {
    try {
      return (await readFile(join(dir, name), 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  const section = sources.config?.secrets;
  if (section && typeof section === 'object') {
    const value = (section as Record<string, unknown>)[name];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}
