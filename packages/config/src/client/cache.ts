import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ResolvedConfig } from '../wire.js';

/**
 * The client's local copy of the last config it accepted, so a restart while the config
 * server is down still starts. One JSON file per (service, env, version), written to a
 * temporary file and renamed into place, readable by the owner only: with a token it holds
 * decrypted secrets, like the service's own environment does.
 */
export class ConfigCache {
  readonly file: string;
  private readonly dir: string;

  constructor(dir: string, service: string, env: string, version: string | undefined) {
    const name = `${service}-${env.replaceAll(',', '+')}${version ? `@${version}` : ''}.json`;
    this.file = join(resolve(dir), name);
    this.dir = resolve(dir);
  }

  /** The cached document, or undefined when there is none (or it is unreadable). */
  async read(): Promise<{ document: ResolvedConfig; savedAt: string } | undefined> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as {
        document?: ResolvedConfig;
        savedAt?: string;
      };
      if (!parsed.document || typeof parsed.document.revision !== 'string') return undefined;
      return { document: parsed.document, savedAt: parsed.savedAt ?? '' };
    } catch {
      return undefined;
    }
  }

  /** Replaces the cached document atomically. */
  async write(document: ResolvedConfig): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = `${this.file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temp, JSON.stringify({ savedAt: new Date().toISOString(), document }), { mode: 0o600 });
    await rename(temp, this.file);
  }
}
