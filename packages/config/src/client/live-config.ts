import { EventEmitter } from 'node:events';
import type { FieldError, FlotillaError, Logger, Validator } from '@flotilla/core';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigInvalidError } from '../errors.js';
import { type ConfigTree, changedPaths, deepFreeze, isTree } from '../flatten.js';
import type { ResolvedConfig, ValueOrigin } from '../wire.js';
import type { ConfigCache } from './cache.js';
import { type PlaceholderOptions, resolvePlaceholders } from './placeholders.js';

/** A new config was applied. */
export interface ConfigChange<T> {
  value: Readonly<T>;
  previous: Readonly<T>;
  revision: string;
  previousRevision: string;
  /** Dotted paths whose value changed. */
  changed: string[];
}

/** A pushed config was not applied; the old one stays. */
export interface ConfigRejection {
  revision: string | undefined;
  /** `invalid`: fails the schema or its placeholders; `server`: the server could not serve it. */
  reason: 'invalid' | 'server';
  message: string;
  errors: FieldError[];
}

/** Events of a `LiveConfig`. */
export interface ConfigEvents<T> {
  change: (event: ConfigChange<T>) => void;
  rejected: (event: ConfigRejection) => void;
  connected: () => void;
  disconnected: (error: Error) => void;
}

interface LiveConfigInit {
  validator: Validator<TSchema>;
  schema: TSchema;
  placeholders: PlaceholderOptions;
  cache: ConfigCache | undefined;
  logger: Logger;
}

/**
 * The current config of a service. `value` is replaced as a whole (never mutated), so a
 * request handler that read it once sees one consistent version even while a change lands.
 */
export class LiveConfig<T> {
  private current!: Readonly<T>;
  private doc!: ResolvedConfig;
  private source: 'server' | 'cache' = 'server';
  private readonly emitter = new EventEmitter();
  private queue: Promise<void> = Promise.resolve();
  private readonly closers: Array<() => void> = [];

  constructor(private readonly init: LiveConfigInit) {}

  /** The validated config. */
  get value(): Readonly<T> {
    return this.current;
  }

  /** One top-level entry of the config. */
  get<K extends keyof T>(key: K): Readonly<T>[K] {
    return this.current[key];
  }

  /** Revision of the applied config (equal revisions, equal config). */
  get revision(): string {
    return this.doc.revision;
  }

  /** @internal The revision to send as `Last-Event-ID`: none while on the cache, to hear from the server. */
  get confirmedRevision(): string | undefined {
    return this.source === 'server' ? this.doc.revision : undefined;
  }

  /** `server`, or `cache` while running on the cached copy. */
  get origin(): 'server' | 'cache' {
    return this.source;
  }

  /** Where each value came from (dotted path → source and line or revision). */
  get origins(): Readonly<Record<string, ValueOrigin>> {
    return this.doc.origins;
  }

  /** The server's document as applied (before placeholders and schema defaults). */
  get document(): ResolvedConfig {
    return this.doc;
  }

  on<E extends keyof ConfigEvents<T>>(event: E, listener: ConfigEvents<T>[E]): this {
    this.emitter.on(event, listener as unknown as (...args: unknown[]) => void);
    return this;
  }

  off<E extends keyof ConfigEvents<T>>(event: E, listener: ConfigEvents<T>[E]): this {
    this.emitter.off(event, listener as unknown as (...args: unknown[]) => void);
    return this;
  }

  /** Stops following changes. */
  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) close();
    await this.queue;
  }

  /** @internal Applies the first document; throws when it is not valid. */
  async start(document: ResolvedConfig, origin: 'server' | 'cache'): Promise<void> {
    this.current = await this.prepare(document);
    this.doc = document;
    this.source = origin;
    this.warnIfEncrypted(document);
    if (origin === 'server') await this.save(document);
  }

  /** @internal A pushed document: applied in arrival order, or rejected. */
  offer(document: ResolvedConfig): void {
    this.queue = this.queue.then(() => this.apply(document));
  }

  /** @internal The server reports it cannot serve the config. */
  refuse(error: FlotillaError): void {
    const errors = Array.isArray(error.data?.errors) ? (error.data.errors as FieldError[]) : [];
    this.reject({ revision: undefined, reason: 'server', message: error.message, errors });
  }

  /** @internal */
  emitState(event: 'connected' | 'disconnected', error?: Error): void {
    this.emitter.emit(event, ...(error ? [error] : []));
  }

  /** @internal */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  private async apply(document: ResolvedConfig): Promise<void> {
    if (document.revision === this.doc.revision) {
      // Running on the cached copy and the server has the same: nothing changes but the origin.
      if (this.source === 'cache') {
        this.source = 'server';
        await this.save(document);
      }
      return;
    }
    let value: Readonly<T>;
    try {
      value = await this.prepare(document);
    } catch (error) {
      const errors = (error as ConfigInvalidError).data?.errors;
      this.reject({
        revision: document.revision,
        reason: 'invalid',
        message: (error as Error).message,
        errors: Array.isArray(errors) ? (errors as FieldError[]) : [],
      });
      return;
    }
    const previous = this.current;
    const previousRevision = this.doc.revision;
    this.current = value;
    this.doc = document;
    this.source = 'server';
    const changed = isTree(previous) && isTree(value) ? changedPaths(previous, value) : [];
    this.init.logger.info({ revision: document.revision, previousRevision, changed }, 'config changed');
    this.warnIfEncrypted(document);
    await this.save(document);
    this.emitter.emit('change', { value, previous, revision: document.revision, previousRevision, changed });
  }

  private reject(rejection: ConfigRejection): void {
    this.init.logger.warn(
      { revision: rejection.revision, reason: rejection.reason, errors: rejection.errors },
      `config change rejected, keeping revision ${this.doc.revision}: ${rejection.message}`,
    );
    this.emitter.emit('rejected', rejection);
  }

  /** Placeholders, schema defaults and conversions, validation; the result is frozen. */
  private async prepare(document: ResolvedConfig): Promise<Readonly<T>> {
    const { tree, errors } = await resolvePlaceholders(document.config as ConfigTree, this.init.placeholders);
    if (errors.length > 0) {
      throw new ConfigInvalidError(
        `placeholders of revision ${document.revision} failed: ${describe(errors)}`,
        {
          data: { errors },
        },
      );
    }
    const candidate = Value.Convert(this.init.schema, Value.Default(this.init.schema, tree));
    const problems = this.init.validator.errors(candidate);
    if (problems.length > 0) {
      throw new ConfigInvalidError(
        `config revision ${document.revision} does not match the schema: ${describe(problems)}`,
        {
          data: { errors: problems },
        },
      );
    }
    return deepFreeze(candidate) as Readonly<T>;
  }

  private warnIfEncrypted(document: ResolvedConfig): void {
    if (!document.decrypted && document.secrets.length > 0) {
      this.init.logger.warn(
        { secrets: document.secrets },
        'secrets are still encrypted: this client has no token (FLOTILLA_CONFIG_TOKEN)',
      );
    }
  }

  private async save(document: ResolvedConfig): Promise<void> {
    try {
      await this.init.cache?.write(document);
    } catch (error) {
      this.init.logger.warn({ err: error, file: this.init.cache?.file }, 'cannot write the config cache');
    }
  }
}

function describe(errors: FieldError[]): string {
  const first = errors.slice(0, 3).map((e) => `${e.field} ${e.message}`);
  return `${first.join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}`;
}
