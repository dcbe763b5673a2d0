import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import type { CompiledRoute } from './routes/compile.js';
import { loadRoutesFile, routesFromValue } from './routes/load.js';

/** Where the routes came from and how the last reload went (the admin API shows it). */
export interface RoutesState {
  source: string;
  loadedAt: string | undefined;
  lastError: { message: string; at: string } | undefined;
}

/** Something that yields routes now and calls back when they change. */
export interface RoutesSource {
  readonly state: RoutesState;
  /** Loads the routes; throws when they are invalid. */
  load(): Promise<CompiledRoute[]>;
  /** Starts following changes; `apply` gets each valid new set. */
  follow(apply: (routes: CompiledRoute[]) => void): void;
  /** Re-reads now (admin `POST /reload`); keeps the old routes on error. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/** Debounce of file change events: editors write a file in several steps. */
const DEBOUNCE_MS = 100;

/**
 * Routes from a YAML file, reloaded when it changes. The directory is watched rather than the
 * file, because editors and `kubectl` ConfigMap updates replace the file (rename), which ends a
 * watch on the file itself. A bad new file keeps the old routes and records why.
 */
export class FileRoutesSource implements RoutesSource {
  readonly state: RoutesState;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private apply: ((routes: CompiledRoute[]) => void) | undefined;
  private readonly path: string;

  constructor(
    path: string,
    private readonly logger: Logger,
  ) {
    this.path = resolve(path);
    this.state = { source: this.path, loadedAt: undefined, lastError: undefined };
  }

  async load(): Promise<CompiledRoute[]> {
    const routes = await loadRoutesFile(this.path);
    this.state.loadedAt = new Date().toISOString();
    this.state.lastError = undefined;
    return routes;
  }

  follow(apply: (routes: CompiledRoute[]) => void): void {
    this.apply = apply;
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, file) => {
      if (file !== null && file !== name) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), DEBOUNCE_MS);
    });
    this.watcher.on('error', (error) => this.logger.warn({ err: error }, 'routes watch failed'));
  }

  async reload(): Promise<void> {
    try {
      const routes = await this.load();
      this.apply?.(routes);
      this.logger.info({ source: this.path, routes: routes.length }, 'routes reloaded');
    } catch (error) {
      const message = (error as Error).message;
      this.state.lastError = { message, at: new Date().toISOString() };
      this.logger.warn({ source: this.path }, `routes not reloaded, keeping the previous ones: ${message}`);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.watcher?.close();
  }
}

/** The gateway's config document: routes under `routes`, other keys ignored here. */
const GatewayConfigSchema = Type.Object({ routes: Type.Optional(Type.Array(Type.Unknown())) });

/** Routes from the config server (service `gateway`, key `routes`), reloaded on its pushed changes. */
export class ConfigRoutesSource implements RoutesSource {
  readonly state: RoutesState;
  private config:
    | Awaited<ReturnType<typeof import('@flotilla/config/client').loadConfig<typeof GatewayConfigSchema>>>
    | undefined;
  private apply: ((routes: CompiledRoute[]) => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
  ) {
    this.state = {
      source: `${url} (service gateway, key routes)`,
      loadedAt: undefined,
      lastError: undefined,
    };
  }

  async load(): Promise<CompiledRoute[]> {
    if (!this.config) {
      const { loadConfig } = await import('@flotilla/config/client');
      this.config = await loadConfig({
        service: 'gateway',
        schema: GatewayConfigSchema,
        url: this.url,
        cacheDir: false,
        logger: this.logger,
      });
      this.config.on('change', () => void this.reload());
    }
    const routes = this.compile(this.config.value.routes);
    this.state.loadedAt = new Date().toISOString();
    this.state.lastError = undefined;
    return routes;
  }

  follow(apply: (routes: CompiledRoute[]) => void): void {
    this.apply = apply;
  }

  async reload(): Promise<void> {
    try {
      const routes = await this.load();
      this.apply?.(routes);
      this.logger.info({ source: this.state.source, routes: routes.length }, 'routes reloaded');
    } catch (error) {
      const message = (error as Error).message;
      this.state.lastError = { message, at: new Date().toISOString() };
      this.logger.warn(
        { source: this.state.source },
        `routes not reloaded, keeping the previous ones: ${message}`,
      );
    }
  }

  private compile(routes: unknown): CompiledRoute[] {
    return routesFromValue({ routes: routes ?? [] }, `config ${this.url} gateway`);
  }

  async close(): Promise<void> {
    await this.config?.close();
  }
}

/** Routes given in code (`startGateway({ routes })`); `reload()` replaces them. */
export class StaticRoutesSource implements RoutesSource {
  readonly state: RoutesState = { source: 'options', loadedAt: undefined, lastError: undefined };

  constructor(private routes: CompiledRoute[]) {}

  async load(): Promise<CompiledRoute[]> {
    this.state.loadedAt = new Date().toISOString();
    return this.routes;
  }

  follow(): void {}

  async reload(): Promise<void> {}

  async close(): Promise<void> {}
}
