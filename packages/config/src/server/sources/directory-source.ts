import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import { ConfigurationError, type Logger } from '@flotilla/core';
import { ConfigSourceError } from '../../errors.js';
import { deepFreeze } from '../../flatten.js';
import { APPLICATION, NAME_PATTERN } from '../../names.js';
import {
  type ConfigDocument,
  type ConfigSource,
  isVersionRange,
  type Scope,
  SourceSnapshot,
} from './source.js';
import { parseYamlConfig } from './yaml-document.js';

export interface DirectorySourceOptions {
  /** Directory of `*.yaml` / `*.yml` files (a git checkout works). */
  dir: string;
  /** How the directory appears in source names (`file:<displayDir>/orders.yaml`); default `dir`. */
  displayDir?: string;
  /** Quiet time after the last file event before re-reading; default 50 ms. */
  debounceMs?: number;
  /** Safety-net rescan for missed events (network file systems); default 10 s, 0 disables. */
  pollIntervalMs?: number;
  logger?: Logger;
}

interface FileState {
  text: string;
  /** Last good document of this file, if it ever parsed. */
  good: ConfigDocument | undefined;
  /** What is served: `good`, or `good` marked with the current problem. */
  served: ConfigDocument;
}

const YAML_FILE = /^([^.@][^@]*?)(?:@(.+))?\.ya?ml$/;
const MAX_UNSTABLE_RETRIES = 20;

/**
 * Config from a directory of YAML files. Every file event triggers, after a quiet period, a
 * rescan of the whole directory whose result replaces the snapshot in one assignment: a
 * `git pull` that touches several files is served all at once. A file whose size or mtime
 * changes while it is read is read again later; a file that does not parse keeps its last good
 * version, reported with its line.
 */
export class DirectorySource implements ConfigSource {
  readonly kind = 'directory' as const;
  readonly description: string;
  private readonly displayDir: string;
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger | undefined;
  private current = SourceSnapshot.empty;
  private files = new Map<string, FileState>();
  private readonly listeners = new Set<() => void>();
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private dirty = false;
  private unstableRetries = 0;
  private closed = false;

  constructor(private readonly options: DirectorySourceOptions) {
    this.displayDir = normalize(options.displayDir ?? options.dir).replace(/(.)\/+$/, '$1');
    this.description = `directory ${this.displayDir}`;
    this.debounceMs = options.debounceMs ?? 50;
    this.pollIntervalMs = options.pollIntervalMs ?? 10_000;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    const info = await stat(this.options.dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new ConfigurationError(
        `config directory ${this.options.dir} does not exist or is not a directory`,
      );
    }
    await this.scan();
    this.watcher = watch(this.options.dir, { persistent: false }, () => this.schedule());
    this.watcher.on('error', (error) => {
      this.logger?.warn({ err: error, dir: this.options.dir }, 'watching the config directory failed');
    });
    if (this.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => this.schedule(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    await this.scanning;
  }

  snapshot(): SourceSnapshot {
    return this.current;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Rescans now (tests and the admin API use it instead of waiting for an event). */
  async refresh(): Promise<void> {
    await this.scanning;
    await this.scan();
  }

  private schedule(delay = this.debounceMs): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      if (this.scanning) {
        this.dirty = true;
        return;
      }
      void this.scan();
    }, delay);
    this.debounceTimer.unref();
  }

  private scan(): Promise<void> {
    const run = this.doScan()
      .catch((error: unknown) => {
        this.logger?.error({ err: error, dir: this.options.dir }, 'reading the config directory failed');
      })
      .finally(() => {
        this.scanning = undefined;
        if (this.dirty) {
          this.dirty = false;
          this.schedule();
        }
      });
    this.scanning = run;
    return run;
  }

  private async doScan(): Promise<void> {
    const names = (await readdir(this.options.dir)).filter((n) => YAML_FILE.test(n)).sort();
    const next = new Map<string, FileState>();
    let changed = false;
    let unstable = false;
    for (const name of names) {
      const text = await this.readStable(name);
      if (text === undefined) {
        unstable = true;
        const previous = this.files.get(name);
        if (previous) next.set(name, previous);
        continue;
      }
      const previous = this.files.get(name);
      if (previous && previous.text === text) {
        next.set(name, previous);
        continue;
      }
      changed = true;
      next.set(name, this.load(name, text, previous));
    }
    if (unstable && this.unstableRetries++ < MAX_UNSTABLE_RETRIES) this.schedule();
    if (!unstable) this.unstableRetries = 0;
    const removed = [...this.files.keys()].some((n) => !next.has(n));
    if (!changed && !removed) return;
    this.files = next;
    this.current = this.buildSnapshot();
    for (const listener of this.listeners) listener();
  }

  /** Reads a file; undefined if it changed while being read (a writer is still at it). */
  private async readStable(name: string): Promise<string | undefined> {
    const path = join(this.options.dir, name);
    try {
      const before = await stat(path);
      const text = await readFile(path, 'utf8');
      const after = await stat(path);
      const same = before.size === after.size && before.mtimeMs === after.mtimeMs && before.ino === after.ino;
      return same && Buffer.byteLength(text) === after.size ? text : undefined;
    } catch (error) {
      // Removed between readdir and read: the next event rescans.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private load(name: string, text: string, previous: FileState | undefined): FileState {
    const match = YAML_FILE.exec(name) as RegExpExecArray;
    const layer = match[1] as string;
    const versions = match[2] ?? null;
    const base = { name: `file:${this.displayDir}/${name}`, kind: 'directory' as const, layer, versions };
    try {
      if (!NAME_PATTERN.test(layer)) {
        throw new ConfigSourceError(`file name "${name}" is not <name>[-<env>][@<semver range>].yaml`);
      }
      if (versions !== null && !isVersionRange(versions)) {
        throw new ConfigSourceError(`"${versions}" in "${name}" is not a semver range`);
      }
      const parsed = parseYamlConfig(text);
      const doc: ConfigDocument = deepFreeze({ ...base, data: parsed.data, origins: parsed.origins });
      this.logger?.info({ file: name }, previous ? 'config file reloaded' : 'config file loaded');
      return { text, good: doc, served: doc };
    } catch (error) {
      const data = (error as ConfigSourceError).data ?? {};
      const problem = {
        message: (error as Error).message,
        ...(typeof data.line === 'number' ? { line: data.line } : {}),
        ...(typeof data.column === 'number' ? { column: data.column } : {}),
      };
      const good = previous?.good;
      this.logger?.warn(
        { file: name, line: problem.line, column: problem.column, problem: problem.message },
        good ? 'invalid config file; serving its last good version' : 'invalid config file; ignored',
      );
      const served: ConfigDocument = { ...(good ?? { ...base, data: {}, origins: new Map() }), problem };
      return { text, good, served };
    }
  }

  private buildSnapshot(): SourceSnapshot {
    const documents: ConfigDocument[] = [];
    const seen = new Set<string>();
    for (const state of this.files.values()) {
      const key = `${state.served.layer}@${state.served.versions ?? ''}`;
      // `orders.yaml` and `orders.yml` both present: the first (sorted: .yaml) wins.
      if (seen.has(key)) continue;
      seen.add(key);
      documents.push(state.served);
    }
    return new SourceSnapshot(documents, scopesOf(documents.map((d) => d.layer)));
  }
}

/**
 * Which (service, env) pairs a set of layer names stands for. `orders-prod` is read as service
 * `orders`, env `prod` when `application-prod` or `orders` exists; file names alone cannot
 * tell, which only matters for listings, never for resolution.
 */
export function scopesOf(layers: readonly string[]): Scope[] {
  const names = new Set(layers);
  const envs = new Set<string>();
  for (const l of names) if (l.startsWith(`${APPLICATION}-`)) envs.add(l.slice(APPLICATION.length + 1));
  const out = new Map<string, Scope>();
  const add = (service: string, env: string | null) => out.set(`${service}\n${env ?? ''}`, { service, env });
  for (const l of names) {
    if (l === APPLICATION) add(APPLICATION, null);
    else if (l.startsWith(`${APPLICATION}-`)) add(APPLICATION, l.slice(APPLICATION.length + 1));
    else {
      const env = [...envs].find((e) => l.endsWith(`-${e}`) && l.length > e.length + 1);
      const service = [...names].find((s) => s !== l && l.startsWith(`${s}-`));
      if (env !== undefined) add(l.slice(0, -(env.length + 1)), env);
      else if (service !== undefined) add(service, l.slice(service.length + 1));
      else add(l, null);
    }
  }
  return [...out.values()].sort((a, b) =>
    a.service === b.service ? (a.env ?? '').localeCompare(b.env ?? '') : a.service.localeCompare(b.service),
  );
}
