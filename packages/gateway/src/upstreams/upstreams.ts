import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { ConfigurationError } from '@flotilla/core';
import {
  Balancer,
  type BalancerPick,
  type DiscoveryClient,
  type Instance,
  NoInstanceAvailableError,
  type StrategyName,
} from '@flotilla/discovery';
import { isAbortError, isConnectionError, isFailure, type ResilienceMetrics } from '@flotilla/resilience';
import { type Dispatcher, Pool } from 'undici';
import { BadGatewayError, NoInstanceError } from '../errors.js';
import type { BodyState } from '../proxy/body.js';
import { UpstreamExchange } from '../proxy/exchange.js';
import { type Http1DispatchOptions, type Http1Handler, Http1Pool } from '../proxy/http1/pool.js';
import type { Upstream } from '../routes/compile.js';
import { UpstreamPolicies } from './policies.js';
import { VersionedSource } from './source.js';

/**
 * Idle upstream connections are closed after 4 s unless the upstream's `Keep-Alive: timeout=`
 * hint says otherwise (the pool then stays 1 s below it). Node's own servers close idle
 * connections after 5 s; closing ours first avoids the keep-alive race, where the upstream
 * closes a connection at the moment we send a request on it and the request fails.
 */
export const UPSTREAM_KEEP_ALIVE_MS = 4_000;

/**
 * Where requests to one origin go: the gateway's own HTTP/1.1 pool for `http:` origins (the
 * in-cluster case; see the README's *Benchmark* for why), undici's `Pool` for `https:` ones.
 */
export interface UpstreamPool {
  /**
   * Whether `dispatch` starts the request (the handler's `onRequestStart`, with the controller
   * that aborts it) before it returns: the gateway's pool does; undici's starts a request only
   * once it has a connection for it.
   */
  readonly startsAtOnce: boolean;
  /**
   * Whether the pool calls the handler's `onReadEnd` after each read of a response that did not
   * end it: the gateway's pool does; undici's does not.
   */
  readonly endsReads: boolean;
  dispatch(options: Http1DispatchOptions, handler: Http1Handler): boolean;
  close(): Promise<void>;
}

/** A `service:` leg of a route. */
export type ServiceUpstream = Extract<Upstream, { kind: 'service' }>;

/** Per-request state shared by the attempts of one proxied request. */
export interface AttemptState {
  /** Instances tried already; retries go elsewhere while another instance is available. */
  readonly tried: Set<string>;
  readonly body: BodyState;
  /** The exchange in flight, so a timeout or a client that leaves can abort it. */
  current: UpstreamExchange | undefined;
}

export interface UpstreamsOptions {
  /** Required for `service:` targets. */
  discovery?: DiscoveryClient;
  /** Registers breaker and bulkhead metrics. */
  metrics?: ResilienceMetrics;
  /** Connections per upstream origin; default unlimited (bulkheads bound concurrency). */
  connections?: number;
  /**
   * CA certificates (PEM) trusted for `https:` upstreams in addition to the public roots, for
   * upstreams with certificates from a private CA; {@link checkCaBundle} first (`startGateway` does).
   */
  upstreamCa?: string;
}

/** Connection pools per origin, balancers per strategy, and the resilience policies per upstream. */
export class Upstreams {
  readonly policies: UpstreamPolicies;
  readonly source: VersionedSource | undefined;
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly balancers = new Map<StrategyName, Balancer>();

  constructor(private readonly options: UpstreamsOptions = {}) {
    this.policies = new UpstreamPolicies(options.metrics);
    this.source = options.discovery ? new VersionedSource(options.discovery) : undefined;
  }

  /** The keep-alive pool of `origin` (`http://host:port`). */
  pool(origin: string): UpstreamPool {
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = origin.startsWith('https:')
        ? httpsPool(origin, this.options.connections, this.options.upstreamCa)
        : new Http1Pool(origin, {
            connections: this.options.connections ?? null,
            // No header or body timeout of its own: streams (SSE, long downloads) may be quiet for
            // long; the deadline covers the wait for the response head, and a client that leaves
            // frees the request.
            keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS,
          });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** The balancer of a strategy (one per strategy; it keeps per-service state). */
  balancer(strategy: StrategyName): Balancer {
    let balancer = this.balancers.get(strategy);
    if (!balancer) {
      if (!this.source) throw new NoInstanceError('service targets need a registry (--registry-url)');
      balancer = new Balancer({ source: this.source, strategy });
      this.balancers.set(strategy, balancer);
    }
    return balancer;
  }

  /** Where an instance is reached. */
  static origin(instance: Instance): string {
    return `http://${instance.host.includes(':') ? `[${instance.host}]` : instance.host}:${instance.port}`;
  }

  /**
   * Sends one attempt to `leg`. For a service it picks an instance not tried yet, records the
   * outcome for the strategy and outlier ejection, and — when the connection was refused and
   * nothing of the body was sent — tries the next instance at once, whatever the method.
   */
  async send(leg: Upstream, options: Http1DispatchOptions, state: AttemptState): Promise<UpstreamExchange> {
    if (leg.kind === 'url') {
      const exchange = new UpstreamExchange();
      state.current = exchange;
      try {
        return await exchange.dispatch(this.pool(leg.origin), options);
      } catch (error) {
        throw upstreamError(error, leg.key, state);
      }
    }
    for (;;) {
      const pick = this.pick(leg, state.tried);
      const exchange = new UpstreamExchange();
      state.current = exchange;
      let ok: boolean | undefined;
      try {
        await exchange.dispatch(this.instancePool(pick.instance), options);
        ok = exchange.statusCode < 500;
        return exchange;
      } catch (error) {
        if (!isAbortError(error)) ok = !isFailure(error);
        if (this.triesElsewhere(leg, error, state)) continue;
        throw upstreamError(error, leg.key, state);
      } finally {
        this.settle(leg, pick, ok);
      }
    }
  }

  /**
   * Picks the instance of a service leg for one attempt (`Balancer.start`): one not in `tried`
   * while another is available, counted as started for the strategy and added to `tried`.
   * Throws `NoInstanceError` when the service has no instance available. Each pick is settled
   * once.
   */
  pick(leg: ServiceUpstream, tried: Set<string>): BalancerPick {
    let pick: BalancerPick;
    try {
      pick = this.balancer(leg.strategy).start(leg.key, { exclude: tried });
    } catch (error) {
      if (!(error instanceof NoInstanceAvailableError)) throw error;
      throw new NoInstanceError(error.message, { data: { service: leg.key }, cause: error });
    }
    tried.add(pick.instance.instanceId);
    return pick;
  }

  /**
   * The pool of a picked instance. Throws for an instance whose host makes no URL (the registry
   * takes any host): call it where the attempt's failure is settled, as a failed attempt.
   */
  instancePool(instance: Instance): UpstreamPool {
    return this.pool(Upstreams.origin(instance));
  }

  /**
   * Records how a picked attempt went (`Balancer.finish`), for the strategy (latency,
   * outstanding calls) and outlier ejection: `ok` is whether the answer had a status below 500
   * or the error was not a failure, undefined for an aborted attempt (fine for the strategy, not
   * counted for ejection).
   */
  settle(leg: ServiceUpstream, pick: BalancerPick, ok: boolean | undefined): void {
    this.balancer(leg.strategy).finish(pick, ok);
  }

  /**
   * Whether an attempt that failed with `error` goes to another instance at once: the connection
   * was refused, nothing of the body was sent, and an instance not tried yet is available.
   */
  triesElsewhere(leg: ServiceUpstream, error: unknown, state: AttemptState): boolean {
    return (
      isRefused(error) &&
      !state.body.started &&
      untried(this.balancer(leg.strategy).available(leg.key), state.tried)
    );
  }

  /** Closes every pool (in-flight requests finish first). */
  async close(): Promise<void> {
    for (const balancer of this.balancers.values()) balancer.close();
    await Promise.all([...this.pools.values()].map((pool) => pool.close().catch(() => {})));
    this.pools.clear();
  }
}

/**
 * TLS options of `https:` upstreams: with `upstreamCa`, the public roots plus it (a `ca` option
 * replaces Node's roots rather than adding to them); without, Node's defaults (which include
 * `NODE_EXTRA_CA_CERTS`).
 */
export function tlsOptionsFor(upstreamCa: string | undefined): { ca: string[] } | undefined {
  return upstreamCa === undefined ? undefined : { ca: [...rootCertificates, upstreamCa] };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * Checks a PEM bundle of CA certificates (one or more `CERTIFICATE` blocks) before it is used:
 * Node's TLS would ignore text that is not a certificate and every handshake would then fail.
 * Throws a `ConfigurationError` naming `field` and the certificate that does not parse.
 */
export function checkCaBundle(pem: string, field = 'upstreamCa'): string {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    throw new ConfigurationError(
      `${field} should hold PEM certificates (-----BEGIN CERTIFICATE-----), found none`,
      {
        data: { field },
      },
    );
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ConfigurationError(
        `${field}: certificate ${i + 1} of ${blocks.length} does not parse (${(error as Error).message})`,
        {
          data: { field },
          cause: error,
        },
      );
    }
  });
  return pem;
}

/** An undici pool for a TLS origin, with the same keep-alive and no header or body timeout. */
function httpsPool(
  origin: string,
  connections: number | undefined,
  upstreamCa: string | undefined,
): UpstreamPool {
  const pool = new Pool(origin, {
    connections: connections ?? null,
    keepAliveTimeout: UPSTREAM_KEEP_ALIVE_MS,
    bodyTimeout: 0,
    headersTimeout: 0,
    connect: tlsOptionsFor(upstreamCa),
  });
  return {
    startsAtOnce: false,
    endsReads: false,
    // The exchange implements the part of undici's handler API that both pools call.
    dispatch: (options, handler) =>
      pool.dispatch(options as Dispatcher.DispatchOptions, handler as Dispatcher.DispatchHandler),
    close: () => pool.close(),
  };
}

function untried(instances: readonly Instance[], tried: ReadonlySet<string>): boolean {
  return instances.some((i) => !tried.has(i.instanceId));
}

function isRefused(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/** The upstream's bytes were not HTTP (the pool's `HPE_*` errors, as undici's parser names them). */
function isProtocolError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('HPE_');
}

/**
 * The TLS handshake with an `https:` upstream failed: a certificate that does not verify
 * (OpenSSL's verify codes, Node's `ERR_TLS_CERT_ALTNAME_INVALID`), or a peer that does not speak
 * TLS (`ERR_SSL_*`, `EPROTO`).
 */
function isTlsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return (
    typeof code === 'string' &&
    (TLS_VERIFY_CODES.has(code) ||
      code.startsWith('ERR_TLS_') ||
      code.startsWith('ERR_SSL_') ||
      code === 'EPROTO')
  );
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
]);

/**
 * Connection-level failures, failed TLS handshakes and malformed responses become 502 problems. They stay retryable (to another instance) only
 * while nothing of the body was sent; the retry policy reads that flag.
 */
export function upstreamError(error: unknown, upstream: string, state: AttemptState): unknown {
  if (isAbortError(error) || !(isConnectionError(error) || isProtocolError(error) || isTlsError(error)))
    return error;
  const code = (error as { code?: string }).code ?? 'ERROR';
  return new BadGatewayError(`Upstream ${upstream} failed: ${code}`, {
    cause: error,
    retryable: !state.body.started,
    data: { upstream },
  });
}
