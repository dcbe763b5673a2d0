import { ResilienceMetrics } from '@flotilla/resilience';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type CounterChild = ReturnType<Counter<string>['labels']>;
type HistogramChild = ReturnType<Histogram<string>['labels']>;

/**
 * The gateway's Prometheus metrics. Label children are cached by their label values, so the
 * hot path does one Map lookup per metric instead of prom-client's per-call label hashing.
 */
export class GatewayMetrics {
  readonly registry: Registry;
  readonly resilience: ResilienceMetrics;
  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly upstream: Histogram<'service'>;
  private readonly rateLimitedTotal: Counter<'route'>;
  private readonly cacheTotal: Counter<'route' | 'result'>;
  private readonly requestChildren = new Map<string, CounterChild>();
  private readonly durationChildren = new Map<string, HistogramChild>();
  private readonly upstreamChildren = new Map<string, HistogramChild>();

  constructor(registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: registry, prefix: 'flotilla_gateway_' });
    this.requests = new Counter({
      name: 'flotilla_gateway_requests_total',
      help: 'Requests answered by the gateway, by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'flotilla_gateway_request_duration_seconds',
      help: 'Time from request to response end, by route.',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers: [registry],
    });
    this.upstream = new Histogram({
      name: 'flotilla_gateway_upstream_duration_seconds',
      help: 'Time from sending a request upstream to its response head, by upstream service or origin.',
      labelNames: ['service'],
      buckets: BUCKETS,
      registers: [registry],
    });
    this.rateLimitedTotal = new Counter({
      name: 'flotilla_gateway_rate_limited_total',
      help: 'Requests refused with 429 by a route rate limit, by route.',
      labelNames: ['route'],
      registers: [registry],
    });
    this.cacheTotal = new Counter({
      name: 'flotilla_gateway_cache_lookups_total',
      help: 'Response cache lookups by route and result (hit, miss).',
      labelNames: ['route', 'result'],
      registers: [registry],
    });
    this.resilience = new ResilienceMetrics({ registry });
  }

  /** Counts one answered request and its duration. */
  request(route: string, method: string, status: number, seconds: number): void {
    const key = `${route}\u0000${method}\u0000${status}`;
    let counter = this.requestChildren.get(key);
    if (!counter) {
      counter = this.requests.labels(route, method, String(status));
      this.requestChildren.set(key, counter);
    }
    counter.inc();
    let histogram = this.durationChildren.get(route);
    if (!histogram) {
      histogram = this.duration.labels(route);
      this.durationChildren.set(route, histogram);
    }
    histogram.observe(seconds);
  }

  /** Counts a request refused by a rate limit. */
  rateLimited(route: string): void {
    this.rateLimitedTotal.labels(route).inc();
  }

  /** Counts a response cache lookup. */
  cache(route: string, result: 'hit' | 'miss'): void {
    this.cacheTotal.labels(route, result).inc();
  }

  /** Records the time an upstream took to answer. */
  upstreamDuration(service: string, seconds: number): void {
    let histogram = this.upstreamChildren.get(service);
    if (!histogram) {
      histogram = this.upstream.labels(service);
      this.upstreamChildren.set(service, histogram);
    }
    histogram.observe(seconds);
  }
}
