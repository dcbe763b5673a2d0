import {
  type Clock,
  ConflictError,
  createLogger,
  EnvVars,
  type Logger,
  newId,
  systemClock,
} from '@flotilla/core';
import type { BackoffOptions } from '@flotilla/resilience';
import { InstanceCache } from './cache.js';
import type { Instance, InstanceFilter, InstanceStatus, RegistrationInput, ServiceChange } from './model.js';
import { Registration } from './registration.js';
import { Watch } from './watch.js';

export interface DiscoveryClientOptions {
  /** Registry base URL. Default `FLOTILLA_REGISTRY_URL`, else `http://127.0.0.1:8761`. */
  registryUrl?: string;
  /** Keep a copy of these services only; default every service. */
  services?: readonly string[];
  /** Watch reconnect delays (full jitter). Default: starts at the registry's `retry:` hint (1 s), doubles to 10 s. */
  reconnect?: BackoffOptions;
  /** Registration and renewal retry delays. Default 100 ms doubling to 5 s. */
  retry?: BackoffOptions;
  /** A silent watch stream is reopened after this long. Default 45 s (the registry pings every 15 s). */
  idleTimeoutMs?: number;
  /** Per-request timeout of registration calls. Default 5 s. */
  requestTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
  fetch?: typeof fetch;
  random?: () => number;
}

/** Events of a `DiscoveryClient`. */
export interface DiscoveryEvents {
  /** A service's local copy changed. */
  change: (change: ServiceChange) => void;
  /** The watch stream is open. */
  connected: () => void;
  /** The watch stream was lost; the last known set keeps being served. */
  disconnected: (error: unknown) => void;
  /** The registry accepted this process's (re-)registration. */
  registered: (instance: Instance) => void;
}

type Listeners = { [K in keyof DiscoveryEvents]: Set<DiscoveryEvents[K]> };

/**
 * A process's view of the registry: registers the process (with renewals), and keeps a local
 * copy of the instances, fed by the watch stream, that balancers pick from without a network
 * round trip. When the registry is unreachable the copy is kept as it was and served.
 */
export class DiscoveryClient {
  readonly registryUrl: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly fetchFn: typeof fetch;
  private readonly cache: InstanceCache;
  private readonly watch: Watch;
  private readonly listeners: Listeners = {
    change: new Set(),
    connected: new Set(),
    disconnected: new Set(),
    registered: new Set(),
  };
  private registration: Registration | undefined;
  private synced = false;
  private readonly syncWaiters = new Set<() => void>();

  constructor(private readonly options: DiscoveryClientOptions = {}) {
    this.registryUrl = (
      options.registryUrl ??
      process.env[EnvVars.registryUrl] ??
      'http://127.0.0.1:8761'
    ).replace(/\/+$/, '');
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? createLogger({ service: 'discovery' });
    this.fetchFn = options.fetch ?? globalThis.fetch;
    this.cache = new InstanceCache((change) => this.emit('change', change));
    this.watch = new Watch(
      {
        registryUrl: this.registryUrl,
        services: options.services,
        reconnect: options.reconnect,
        idleTimeoutMs: options.idleTimeoutMs,
        clock: this.clock,
        logger: this.logger,
        fetch: this.fetchFn,
        random: options.random,
      },
      {
        snapshot: (revision, instances) => {
          this.cache.applySnapshot(revision, instances);
          this.markSynced();
        },
        change: (revision, reason, instance) => this.cache.applyChange(revision, reason, instance),
        connected: () => {
          this.logger.debug({ registry: this.registryUrl }, 'registry watch connected');
          this.emit('connected');
        },
        disconnected: (error) => {
          this.logger.warn(
            { err: error, registry: this.registryUrl },
            'registry watch lost; serving the last known instances',
          );
          this.emit('disconnected', error);
        },
      },
    );
  }

  /** True while the watch stream is open. */
  get connected(): boolean {
    return this.watch.isConnected;
  }

  /** Registry revision of the local copy (-1 before the first snapshot). */
  get revision(): number {
    return this.cache.revision;
  }

  /** This process's registration, as the registry last returned it. */
  get self(): Instance | undefined {
    return this.registration?.instance;
  }

  /**
   * Opens the watch stream and resolves once the local copy holds a first snapshot. Keeps
   * retrying in the background if the registry is down; `signal` stops the waiting, not the
   * watch.
   */
  async start(signal?: AbortSignal): Promise<void> {
    this.watch.start();
    if (this.synced) return;
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.syncWaiters.delete(done);
        reject(signal?.reason);
      };
      if (signal?.aborted) return onAbort();
      this.syncWaiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Registers this process and keeps its lease renewed until `deregister()` or `close()`.
   * Resolves with the registered instance once the registry accepted it (retrying while the
   * registry is unreachable); rejects on a non-retryable answer (bad registration).
   */
  async register(input: RegistrationInput, signal?: AbortSignal): Promise<Instance> {
    if (this.registration) {
      throw new ConflictError(
        `This client already registers ${this.registration.service}/${this.registration.instanceId}; deregister first`,
        { code: 'ALREADY_REGISTERED' },
      );
    }
    const registration = new Registration(
      { ...input, instanceId: input.instanceId ?? `${input.service}-${newId()}` },
      {
        registryUrl: this.registryUrl,
        clock: this.clock,
        logger: this.logger,
        fetch: this.fetchFn,
        retry: this.options.retry,
        requestTimeoutMs: this.options.requestTimeoutMs,
        random: this.options.random,
        onRegistered: (instance) => this.emit('registered', instance),
      },
    );
    this.registration = registration;
    try {
      return await registration.start(signal);
    } catch (error) {
      if (this.registration === registration) this.registration = undefined;
      await registration.stop();
      throw error;
    }
  }

  /** Reports this process's new status to the registry (e.g. STARTING → UP, OUT_OF_SERVICE). */
  async setStatus(status: InstanceStatus): Promise<Instance> {
    if (!this.registration) {
      throw new ConflictError('This client has not registered an instance', { code: 'NOT_REGISTERED' });
    }
    return this.registration.setStatus(status);
  }

  /** Stops renewing and removes this process from the registry. */
  async deregister(): Promise<void> {
    const registration = this.registration;
    this.registration = undefined;
    await registration?.stop();
  }

  /** UP instances of `service` from the local copy (an immutable array), or those matching `filter`. */
  instances(service: string, filter?: InstanceFilter): readonly Instance[] {
    return this.cache.instances(service, filter);
  }

  /** Services in the local copy. */
  services(): string[] {
    return this.cache.serviceNames();
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof DiscoveryEvents>(event: K, listener: DiscoveryEvents[K]): () => void {
    const set = this.listeners[event] as Set<DiscoveryEvents[K]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Deregisters (if registered) and closes the watch stream. */
  async close(): Promise<void> {
    await Promise.all([this.deregister(), this.watch.close()]);
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const wake of this.syncWaiters) wake();
    this.syncWaiters.clear();
  }

  private emit<K extends keyof DiscoveryEvents>(event: K, ...args: Parameters<DiscoveryEvents[K]>): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<DiscoveryEvents[K]>) => void)(...args);
      } catch (error) {
        this.logger.error({ err: error, event }, 'discovery listener threw');
      }
    }
  }
}
