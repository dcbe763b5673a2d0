import {
  type Bulkhead,
  bulkhead,
  type CircuitBreaker,
  circuitBreaker,
  isRetryable,
  type Policy,
  type ResilienceMetrics,
  type Retry,
  retry,
  timeout,
  wrap,
} from '@flotilla/resilience';
import { UpstreamStatusFailure } from '../errors.js';
import { type CompiledRoute, routeUpstreams, type Upstream } from '../routes/compile.js';

/** The shared, stateful policies of one upstream: every route to it uses the same breaker and bulkhead. */
export interface UpstreamGuards {
  readonly key: string;
  readonly settings: string;
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  readonly unregister: () => void;
}

/**
 * Builds and keeps the resilience policies per upstream (breaker, bulkhead: stateful, shared)
 * and per route (retry, per-try timeout). Upstream policies survive a reload when their
 * settings did not change, so an open breaker stays open across a routes edit.
 */
export class UpstreamPolicies {
  private readonly guards = new Map<string, UpstreamGuards>();
  private readonly pipelines = new WeakMap<CompiledRoute, Map<string, Policy>>();
  private readonly retries = new WeakMap<CompiledRoute, Map<string, Retry>>();

  constructor(private readonly metrics: ResilienceMetrics | undefined) {}

  /** Re-reads the upstream settings of a new route set; keeps unchanged guards, replaces changed ones. */
  update(routes: readonly CompiledRoute[]): void {
    const wanted = new Map<string, { breaker?: CompiledRoute['circuitBreaker']; concurrency?: number }>();
    for (const route of routes) {
      for (const leg of routeUpstreams(route)) {
        const entry = wanted.get(leg.key) ?? {};
        entry.breaker ??= route.circuitBreaker;
        entry.concurrency ??= route.concurrency;
        wanted.set(leg.key, entry);
      }
    }
    for (const [key, entry] of wanted) {
      const settings = JSON.stringify(entry);
      const existing = this.guards.get(key);
      if (existing?.settings === settings) continue;
      existing?.unregister();
      const breaker = entry.breaker
        ? circuitBreaker({ name: `${key} breaker`, ...entry.breaker })
        : undefined;
      const limit = entry.concurrency
        ? bulkhead({ name: `${key} bulkhead`, maxConcurrentCalls: entry.concurrency })
        : undefined;
      const offs = [breaker, limit]
        .filter((p): p is NonNullable<typeof p> => p !== undefined)
        .map((p) => this.metrics?.register(p, { target: key }) ?? (() => {}));
      this.guards.set(key, {
        key,
        settings,
        breaker,
        bulkhead: limit,
        unregister: () => {
          for (const off of offs) off();
        },
      });
    }
    for (const [key, guards] of this.guards) {
      if (wanted.has(key)) continue;
      guards.unregister();
      this.guards.delete(key);
    }
  }

  /** The guards of every upstream, for the admin API. */
  all(): IterableIterator<UpstreamGuards> {
    return this.guards.values();
  }

  /**
   * The pipeline of one composite leg: the upstream's breaker and bulkhead, then the leg's own
   * timeout. No retry: a leg answers with its fallback instead, within the route's deadline.
   */
  legPipeline(route: CompiledRoute, leg: Upstream, name: string, timeoutMs: number): Policy {
    const byLeg = perRoute(this.pipelines, route);
    const key = `${leg.key}\0${name}`;
    let pipeline = byLeg.get(key);
    if (pipeline) return pipeline;
    const guards = this.guards.get(leg.key);
    const policies: Policy[] = [];
    if (guards?.breaker) policies.push(guards.breaker);
    if (guards?.bulkhead) policies.push(guards.bulkhead);
    policies.push(timeout(timeoutMs, { name: `${route.id} ${name} timeout` }));
    pipeline = policies.length === 1 ? policies[0]! : wrap(...policies);
    byLeg.set(key, pipeline);
    return pipeline;
  }

  /** The breaker and bulkhead of `leg`'s upstream (shared by every route to it), if it has any. */
  guardsOf(leg: Upstream): UpstreamGuards | undefined {
    return this.guards.get(leg.key);
  }

  /**
   * The retry policy of a route for one of its upstreams (undefined without retries): the one
   * its pipeline runs, so the fast-path front, which runs its own attempts, shares its budget
   * and counters with the node:http path.
   */
  retryOf(route: CompiledRoute, leg: Upstream): Retry | undefined {
    if (route.retry === undefined || route.retry.attempts === 0) return undefined;
    const byLeg = perRoute(this.retries, route);
    let policy = byLeg.get(leg.key);
    if (policy) return policy;
    policy = retry({
      name: `${route.id} retry`,
      maxAttempts: route.retry.attempts + 1,
      // Another instance is tried at once: the failure was one instance's, not the service's.
      backoff: { initialDelayMs: 1, maxDelayMs: 50 },
      // Never an upstream's own 5xx answer: it is relayed as it is. Requests with a body are not
      // idempotent calls here (the body cannot be replayed), so they are never retried.
      retryOn: (error) => !(error instanceof UpstreamStatusFailure) && isRetryable(error),
    });
    byLeg.set(leg.key, policy);
    return policy;
  }

  /** The pipeline a route uses for one of its upstreams: retry → breaker → bulkhead → timeout. */
  pipeline(route: CompiledRoute, leg: Upstream): Policy {
    const byLeg = perRoute(this.pipelines, route);
    let pipeline = byLeg.get(leg.key);
    if (pipeline) return pipeline;
    const guards = this.guards.get(leg.key);
    const policies: Policy[] = [];
    const retryPolicy = this.retryOf(route, leg);
    if (retryPolicy) policies.push(retryPolicy);
    if (guards?.breaker) policies.push(guards.breaker);
    if (guards?.bulkhead) policies.push(guards.bulkhead);
    policies.push(timeout(route.retry?.perTryTimeoutMs ?? route.timeoutMs, { name: `${route.id} timeout` }));
    pipeline = policies.length === 1 ? policies[0]! : wrap(...policies);
    byLeg.set(leg.key, pipeline);
    return pipeline;
  }
}

/** The map of `route` in `maps`, made on first use. */
function perRoute<T>(maps: WeakMap<CompiledRoute, Map<string, T>>, route: CompiledRoute): Map<string, T> {
  let byLeg = maps.get(route);
  if (!byLeg) {
    byLeg = new Map();
    maps.set(route, byLeg);
  }
  return byLeg;
}
