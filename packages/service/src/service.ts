import { hostname } from 'node:os';
import type { Bus, MessageDefinition, PayloadOf, PublishOptions } from '@flotilla/bus';
import type { LiveConfig, LoadConfigOptions } from '@flotilla/config/client';
import type { Envelope } from '@flotilla/core';
import {
  ConfigurationError,
  createLogger,
  EnvVars,
  type Logger,
  newId,
  sleep,
  waitForShutdown,
} from '@flotilla/core';
import { Balancer, DiscoveryClient, type Lease } from '@flotilla/discovery';
import type { Static, TSchema } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import {
  type ClientOptions,
  isDevelopment,
  ServiceCaller,
  type TypedClient,
  typedClient,
} from './client/client.js';
import type { RequestContext } from './context.js';
import type { Contract } from './contract.js';
import { type DatabaseOptions, databaseDependency, openDatabase, resolveDatabase } from './database.js';
import { type Dependency, probe, waitForDependencies } from './dependencies.js';
import type { BusSettings, EventHandlerSpec, Transaction } from './events.js';
import { Messaging } from './messaging.js';
import { Secrets } from './secrets.js';
import { buildApp } from './server/app.js';
import { ServiceMetrics } from './server/metrics.js';
import { contextPrototype, type Handlers } from './server/routes.js';

type ConfigOf<S> = S extends TSchema ? Static<S> : Record<string, never>;

/** What a handler receives as `ctx`: the request's context plus the service's resources. */
export interface HandlerContext<Cfg = unknown, Cl extends Record<string, Contract> = Record<string, Contract>>
  extends RequestContext {
  /** This instance's id in the registry. */
  readonly instanceId: string;
  /** The current config (hot-reloaded; read it per request). */
  readonly config: Readonly<Cfg>;
  /** The service's own database (throws when the service declared none). */
  readonly db: pg.Pool;
  readonly secrets: Secrets;
  /** Typed clients of the services declared in `clients`. */
  readonly clients: { readonly [K in keyof Cl]: TypedClient<Cl[K]> };
  /**
   * Publishes a message: through the outbox when the service has a database (durable once
   * this resolves; the relay sends it), else straight to the broker. Carries the request's or
   * the incoming message's correlation and trace.
   */
  publish<D extends MessageDefinition>(
    definition: D,
    payload: PayloadOf<D>,
    options?: PublishOptions,
  ): Promise<Envelope>;
  /** Runs `fn` in a transaction of the service's database; messages it publishes commit with it. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

/** What a message handler receives as `ctx`. */
export interface EventContext<Cfg = unknown, Cl extends Record<string, Contract> = Record<string, Contract>>
  extends HandlerContext<Cfg, Cl> {
  /** The inbox transaction of an `idempotent` handler: write through it so the writes and the message record commit together. */
  readonly tx: Transaction;
}

/** Everything a service declares. */
export interface ServiceDefinition<
  C extends Contract,
  S extends TSchema | undefined,
  Cl extends Record<string, Contract>,
> {
  /** Service name, as registered and resolved by callers. */
  name: string;
  version?: string;
  /** The API this service serves. */
  contract?: C;
  /** Implementations of the contract's endpoints. */
  routes?: Handlers<C, HandlerContext<ConfigOf<S>, Cl>>;
  /** Contracts of the services this one calls: `ctx.clients.<key>`. */
  clients?: Cl;
  /** TypeBox schema of the config served by the config server (`FLOTILLA_CONFIG_URL`). */
  config?: S;
  /** Options of the config client (environment, token, cache directory…). */
  configOptions?: Partial<Omit<LoadConfigOptions<TSchema>, 'schema' | 'service'>>;
  /** Names of the secrets the service needs (environment, secrets directory, or config server). */
  secrets?: readonly string[];
  /** The service's own database: `true` or options (migrations run at start). */
  database?: boolean | DatabaseOptions;
  /** The message bus: `true` for the adapter named by `FLOTILLA_BUS_URL`, or settings. */
  bus?: boolean | BusSettings;
  /** Message handlers, declared with `on(...)`; they start consuming before the service reports UP. */
  events?: readonly EventHandlerSpec<EventContext<ConfigOf<S>, Cl>>[];
  /** What must be ready before the service reports UP. */
  dependencies?: {
    /** Services that must have an UP instance. */
    services?: readonly string[];
    /** Other checks (a broker, an external API). */
    checks?: readonly Dependency[];
    /** Give up (and exit) after this long; default 60 s. */
    timeoutMs?: number;
  };
  /** Port to listen on; default `PORT`, else any free port. */
  port?: number;
  /** Address to listen on; default `FLOTILLA_HOST`, else 127.0.0.1. */
  host?: string;
  /** Address registered for callers; default `FLOTILLA_ADVERTISE_HOST`, else the listen address (the host name for 0.0.0.0). */
  advertiseHost?: string;
  /** Registry to register with and discover from; default `FLOTILLA_REGISTRY_URL`; `false` for neither. */
  registryUrl?: string | false;
  /** Lease asked of the registry; default the registry's (renew every 10 s, expire after 30 s). */
  lease?: Lease;
  zone?: string;
  metadata?: Record<string, string>;
  /** Graceful shutdown: keep serving `drainDelayMs` after deregistering (callers' caches catch up), then stop within `timeoutMs`. */
  shutdown?: { drainDelayMs?: number; timeoutMs?: number };
  /** Options of the typed clients (timeouts, retries, breaker). */
  clientOptions?: Omit<ClientOptions, 'discovery' | 'balancer' | 'onCall' | 'caller'>;
  /** Check the service's own answers against its contract; default outside production. */
  validateResponses?: boolean;
  /** Largest request body in bytes; default 1 MiB. */
  bodyLimit?: number;
  /** Runs after dependencies are ready and migrations ran, before the service reports UP. */
  onStart?: (service: Service<C, S, Cl>) => Promise<void> | void;
  /** Runs while stopping, after requests drained, before resources close. */
  onStop?: (service: Service<C, S, Cl>) => Promise<void> | void;
  /** Adds raw fastify routes or plugins next to the contract's. */
  setup?: (app: FastifyInstance) => void;
  logger?: Logger;
  /** Environment read for defaults; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

type Phase = 'created' | 'starting' | 'up' | 'stopping' | 'stopped';

/** A running (or runnable) microservice; see `createService`. */
export class Service<
  C extends Contract = Contract,
  S extends TSchema | undefined = TSchema | undefined,
  Cl extends Record<string, Contract> = Record<string, Contract>,
> {
  readonly name: string;
  readonly instanceId: string;
  readonly log: Logger;
  readonly metrics: ServiceMetrics;
  private phase: Phase = 'created';
  private app: FastifyInstance | undefined;
  private discovery: DiscoveryClient | undefined;
  private balancer: Balancer | undefined;
  private readonly callers = new Map<string, ServiceCaller>();
  private liveConfig: LiveConfig<ConfigOf<S>> | undefined;
  private pool: pg.Pool | undefined;
  private secretStore: Secrets | undefined;
  private clientsView: HandlerContext<ConfigOf<S>, Cl>['clients'] | undefined;
  private address: { host: string; port: number } | undefined;
  private stopping: Promise<void> | undefined;
  /** Set once the listener closes: answers ask clients to drop the connection. */
  closing = false;
  private readonly env: NodeJS.ProcessEnv;
  private readonly scrubber = { secrets: undefined as Secrets | undefined };
  private readonly messaging: Messaging;

  constructor(readonly definition: ServiceDefinition<C, S, Cl>) {
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(definition.name)) {
      throw new ConfigurationError(
        `Service name should be lowercase letters, digits and dashes, got "${definition.name}"`,
      );
    }
    if (definition.contract && definition.contract.service !== definition.name) {
      throw new ConfigurationError(
        `Service "${definition.name}" serves the contract of "${definition.contract.service}"; the names should match`,
      );
    }
    if (definition.routes && !definition.contract) {
      throw new ConfigurationError(`Service "${definition.name}" has routes but no contract`);
    }
    if (definition.events?.length && !definition.bus) {
      throw new ConfigurationError(
        `Service "${definition.name}" has event handlers but no bus (createService({ bus: true }))`,
      );
    }
    if (definition.events?.some((e) => e.options.idempotent) && !definition.database) {
      throw new ConfigurationError(
        `Service "${definition.name}" has idempotent event handlers, which need its database (createService({ database }))`,
      );
    }
    this.env = definition.env ?? process.env;
    this.name = definition.name;
    this.instanceId = `${definition.name}-${newId()}`;
    this.log =
      definition.logger ??
      createLogger({
        service: definition.name,
        instance: this.instanceId,
        censor: (line) => this.scrubber.secrets?.scrub(line) ?? line,
      });
    this.metrics = new ServiceMetrics(definition.name);
    this.messaging = new Messaging({
      name: this.name,
      instanceId: this.instanceId,
      log: this.log,
      env: this.env,
      metrics: this.metrics.registry,
      pool: () => this.pool,
    });
  }

  /** Base URL the service listens on (after `start`). */
  get url(): string {
    if (!this.address) throw new ConfigurationError(`Service ${this.name} is not started`);
    return `http://${this.address.host}:${this.address.port}`;
  }

  /** Port the service listens on (after `start`). */
  get port(): number {
    if (!this.address) throw new ConfigurationError(`Service ${this.name} is not started`);
    return this.address.port;
  }

  /** True between reporting UP and the start of shutdown. */
  get ready(): boolean {
    return this.phase === 'up';
  }

  /** The current config (after `start`). */
  get config(): Readonly<ConfigOf<S>> {
    return (this.liveConfig?.value ?? {}) as Readonly<ConfigOf<S>>;
  }

  /** The live config object, for change events (`on('change', …)`); undefined without a config schema. */
  get configSource(): LiveConfig<ConfigOf<S>> | undefined {
    return this.liveConfig;
  }

  /** The service's database pool; throws when it declared none. */
  get db(): pg.Pool {
    if (!this.pool)
      throw new ConfigurationError(`Service ${this.name} declared no database (createService({ database }))`);
    return this.pool;
  }

  /** The service's bus (after `start`); throws when it declared none. */
  get bus(): Bus {
    return this.messaging.bus;
  }

  get secrets(): Secrets {
    return this.secretStore ?? new Secrets();
  }

  /** The fastify instance (after `start`), e.g. for `inject` in tests. */
  get server(): FastifyInstance {
    if (!this.app) throw new ConfigurationError(`Service ${this.name} is not started`);
    return this.app;
  }

  /** A typed client of another service, sharing this service's discovery, balancer and metrics. */
  client<T extends Contract>(contract: T): TypedClient<T> {
    return typedClient(contract, this.caller(contract.service));
  }

  /**
   * Starts: config and secrets, HTTP listener (health answers at once), registration as
   * STARTING, waiting for dependencies, migrations, `onStart`, then UP. A failure on the way
   * releases everything and rejects with an error that says what was missing.
   */
  async start(): Promise<this> {
    if (this.phase !== 'created') throw new ConfigurationError(`Service ${this.name} was already started`);
    this.phase = 'starting';
    const d = this.definition;
    try {
      if (d.config) {
        const { loadConfig } = await import('@flotilla/config/client');
        this.liveConfig = (await loadConfig({
          ...d.configOptions,
          service: d.name,
          version: d.version,
          schema: d.config,
          environment: d.configOptions?.environment ?? this.env,
          logger: d.configOptions?.logger ?? this.log.child({ component: 'config' }),
        })) as unknown as LiveConfig<ConfigOf<S>>;
      }
      this.secretStore = await Secrets.load(d.secrets ?? [], {
        env: this.env,
        config: this.liveConfig?.value as Record<string, unknown> | undefined,
      });
      this.scrubber.secrets = this.secretStore;

      const dependencies: Dependency[] = [...(d.dependencies?.checks ?? [])];
      let migrations: (() => Promise<number[]>) | undefined;
      if (d.database) {
        const options = d.database === true ? {} : d.database;
        const target = resolveDatabase(d.name, options, this.env);
        const db = openDatabase(d.name, target.url, options, this.log.child({ component: 'postgres' }));
        this.pool = db.pool;
        migrations = db.migrate;
        dependencies.unshift(databaseDependency(target, () => db.pool));
      }

      const registryUrl =
        d.registryUrl === false ? undefined : (d.registryUrl ?? this.env[EnvVars.registryUrl]);
      const needed = [
        ...new Set([
          ...(d.dependencies?.services ?? []),
          ...Object.values(d.clients ?? {}).map((c) => c.service),
        ]),
      ];
      if (registryUrl !== undefined || needed.length > 0) {
        this.discovery = new DiscoveryClient({
          registryUrl,
          services: needed.length > 0 ? needed : undefined,
          logger: this.log.child({ component: 'discovery' }),
        });
        this.balancer = new Balancer({ source: this.discovery });
        if (needed.length > 0) this.discovery.start().catch(() => {});
      }
      if (d.bus) dependencies.push(this.messaging.dependency(d.bus === true ? {} : d.bus));
      for (const service of d.dependencies?.services ?? []) {
        const discovery = this.discovery as DiscoveryClient;
        dependencies.push({
          name: service,
          check: async () =>
            discovery.instances(service).length > 0
              ? undefined
              : `no UP instance in the registry at ${discovery.registryUrl}`,
        });
      }

      this.app = await buildApp({
        service: this,
        closing: () => this.closing,
        definition: d,
        bodyLimit: d.bodyLimit ?? 1_048_576,
        validateResponses: d.validateResponses ?? isDevelopment(this.env),
        contextExtras: this.contextExtras(),
        readiness: () => this.readiness(dependencies),
      });
      const host = d.host ?? this.env.FLOTILLA_HOST ?? '127.0.0.1';
      const port = d.port ?? (this.env.PORT ? Number(this.env.PORT) : 0);
      await this.app.listen({ host, port });
      const bound = this.app.server.address();
      const actualPort = typeof bound === 'object' && bound ? bound.port : port;
      const advertise =
        d.advertiseHost ??
        this.env.FLOTILLA_ADVERTISE_HOST ??
        (host === '0.0.0.0' || host === '::' ? hostname() : host);
      this.address = { host: advertise, port: actualPort };
      this.log.info({ url: this.url }, `${this.name} listening`);

      if (registryUrl !== undefined && this.discovery) {
        await this.discovery.register({
          service: d.name,
          instanceId: this.instanceId,
          host: advertise,
          port: actualPort,
          version: d.version,
          zone: d.zone,
          metadata: d.metadata,
          healthCheckUrl: `${this.url}/health/live`,
          status: 'STARTING',
          lease: d.lease ?? leaseFromEnv(this.env),
        });
      }
      await waitForDependencies(dependencies, {
        timeoutMs: d.dependencies?.timeoutMs ?? 60_000,
        log: this.log,
      });
      if (migrations) {
        const ran = await migrations();
        if (ran.length > 0) this.log.info({ versions: ran }, 'migrations applied');
      }
      if (d.bus) {
        await this.messaging.start(
          d.bus === true ? {} : d.bus,
          (d.events ?? []) as readonly EventHandlerSpec<unknown>[],
          contextPrototype(this.log, this.contextExtras()),
        );
      }
      await d.onStart?.(this);
      if (registryUrl !== undefined && this.discovery) await this.discovery.setStatus('UP');
      this.phase = 'up';
      this.log.info({ url: this.url }, `${this.name} is UP`);
      return this;
    } catch (error) {
      this.log.error({ err: error }, `${this.name} failed to start`);
      await this.release().catch(() => {});
      this.phase = 'stopped';
      throw error;
    }
  }

  /**
   * Graceful stop: reports OUT_OF_SERVICE and deregisters first (callers stop picking this
   * instance), keeps serving for the drain delay while their caches catch up, then stops
   * accepting, lets requests in flight finish (bounded), and closes clients, database and config.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /**
   * Runs the service as a process: starts it (exit 1 with the reason if it cannot), stops it
   * gracefully on SIGTERM or SIGINT, then exits 0.
   */
  async run(): Promise<never> {
    const shutdown = waitForShutdown();
    try {
      await this.start();
    } catch (error) {
      process.stderr.write(`${this.name}: ${(error as Error).message}\n`);
      process.exit(1);
    }
    const signal = await shutdown;
    this.log.info({ signal }, `${this.name} stopping`);
    await this.stop();
    process.exit(0);
  }

  private async doStop(): Promise<void> {
    if (this.phase === 'created' || this.phase === 'stopped') {
      this.phase = 'stopped';
      return;
    }
    this.phase = 'stopping';
    const d = this.definition;
    const drainDelayMs = d.shutdown?.drainDelayMs ?? Number(this.env.FLOTILLA_DRAIN_DELAY_MS ?? 1_000);
    if (this.discovery?.self) {
      await this.discovery.setStatus('OUT_OF_SERVICE').catch((error) => {
        this.log.warn({ err: error }, 'could not report OUT_OF_SERVICE');
      });
      await this.discovery.deregister();
      this.log.info('deregistered; draining');
      if (drainDelayMs > 0) await sleep(drainDelayMs);
    }
    await this.closeServer(d.shutdown?.timeoutMs ?? 10_000);
    // Message handlers in progress finish; unacknowledged messages go to the other instances.
    await this.messaging.stopConsuming();
    try {
      await d.onStop?.(this);
    } finally {
      await this.release();
      this.phase = 'stopped';
      this.log.info(`${this.name} stopped`);
    }
  }

  private async closeServer(timeoutMs: number): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.closing = true;
    // Connections that go idle after close() began would otherwise stay open until their
    // keep-alive timeout; answers now carry `Connection: close` and idle sockets are swept.
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([app.close().then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    clearInterval(sweep);
    if (outcome === 'timeout') {
      this.log.warn(
        { timeoutMs },
        'requests still in flight after the shutdown timeout; closing their connections',
      );
      app.server.closeAllConnections();
    }
  }

  private async release(): Promise<void> {
    await this.messaging.close();
    const callers = [...this.callers.values()];
    this.callers.clear();
    await Promise.allSettled(callers.map((c) => c.close()));
    this.balancer?.close();
    await this.discovery?.close().catch(() => {});
    await this.liveConfig?.close().catch(() => {});
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => {});
    if (this.phase === 'starting' && this.app) await this.app.close().catch(() => {});
  }

  private caller(service: string): ServiceCaller {
    let caller = this.callers.get(service);
    if (!caller) {
      if (!this.discovery || !this.balancer) {
        throw new ConfigurationError(
          `Service ${this.name} calls ${service} but has no registry: declare it in createService({ clients }) and set ${EnvVars.registryUrl}`,
        );
      }
      caller = new ServiceCaller(service, {
        ...this.definition.clientOptions,
        discovery: this.discovery,
        balancer: this.balancer,
        caller: this.name,
        onCall: this.metrics.call,
      });
      this.metrics.resilience.register(caller.policy, { target: service });
      this.callers.set(service, caller);
    }
    return caller;
  }

  /** What every handler context adds to the request context: the service's resources. */
  private contextExtras(): object {
    const service = this;
    return {
      instanceId: this.instanceId,
      get config() {
        return service.config;
      },
      get db() {
        return service.db;
      },
      get secrets() {
        return service.secrets;
      },
      get clients() {
        return service.clientsOf();
      },
      publish(definition: MessageDefinition, payload: unknown, options?: PublishOptions) {
        return service.messaging.publish(undefined, definition, payload, options);
      },
      transaction<T>(fn: (tx: Transaction) => Promise<T>) {
        return service.messaging.transaction(undefined, fn);
      },
    };
  }

  private clientsOf(): HandlerContext<ConfigOf<S>, Cl>['clients'] {
    this.clientsView ??= Object.fromEntries(
      Object.entries(this.definition.clients ?? {}).map(([key, contract]) => [key, this.client(contract)]),
    ) as HandlerContext<ConfigOf<S>, Cl>['clients'];
    return this.clientsView;
  }

  private async readiness(
    dependencies: readonly Dependency[],
  ): Promise<{ ready: boolean; checks: Record<string, string> }> {
    const checks: Record<string, string> = {};
    if (this.phase !== 'up') {
      checks.service = this.phase;
      return { ready: false, checks };
    }
    const results = await Promise.all(dependencies.map(async (d) => [d.name, await probe(d)] as const));
    let ready = true;
    for (const [name, reason] of results) {
      checks[name] = reason ?? 'UP';
      if (reason !== undefined) ready = false;
    }
    return { ready, checks };
  }
}

/** Lease from `FLOTILLA_LEASE_RENEWAL_MS` and `FLOTILLA_LEASE_DURATION_MS`, when both are set. */
function leaseFromEnv(env: NodeJS.ProcessEnv): Lease | undefined {
  const renewal = Number(env.FLOTILLA_LEASE_RENEWAL_MS);
  const duration = Number(env.FLOTILLA_LEASE_DURATION_MS);
  if (!env.FLOTILLA_LEASE_RENEWAL_MS || !env.FLOTILLA_LEASE_DURATION_MS) return undefined;
  if (!Number.isInteger(renewal) || !Number.isInteger(duration) || renewal <= 0 || duration <= renewal) {
    throw new ConfigurationError(
      `FLOTILLA_LEASE_RENEWAL_MS and FLOTILLA_LEASE_DURATION_MS should be integers with renewal < duration, got ${env.FLOTILLA_LEASE_RENEWAL_MS} and ${env.FLOTILLA_LEASE_DURATION_MS}`,
    );
  }
  return { renewalIntervalMs: renewal, durationMs: duration };
}

/**
 * Declares a microservice: its contract and handlers, the services it calls, its config,
 * secrets and database. `start()` brings it up (registered, dependencies ready, migrations
 * applied); `stop()` or SIGTERM under `run()` takes it down gracefully.
 */
export function createService<
  C extends Contract = Contract,
  S extends TSchema | undefined = undefined,
  Cl extends Record<string, Contract> = Record<string, never>,
>(definition: ServiceDefinition<C, S, Cl>): Service<C, S, Cl> {
  return new Service(definition);
}
