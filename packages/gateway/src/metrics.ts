import { ResilienceMetrics } from '@flotilla/resilience';
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import { type CounterSeries, type HistogramSeries, SeriesCounter, SeriesHistogram } from './series.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The gateway's Prometheus metrics. The per-request ones are series metrics (`series.ts`): a
 * label set is resolved once, and each request then costs a Map lookup and a field update
 * instead of prom-client's per-call label hashing (0.72 µs → 0.05 µs per request).
 */
export class GatewayMetrics {
  readonly registry: Registry;
  readonly resilience: ResilienceMetrics;
  private readonly requests: SeriesCounter;
  private readonly duration: SeriesHistogram;
  private readonly upstream: SeriesHistogram;
  private readonly rateLimitedTotal: Counter<'route'>;
  private readonly cacheTotal: Counter<'route' | 'result'>;
  private readonly requestChildren = new Map<string, CounterSeries>();
  private readonly durationChildren = new Map<string, HistogramSeries>();
  private readonly upstreamChildren = new Map<string, HistogramSeries>();

  constructor(registry = new Registry(), options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: registry, prefix: 'flotilla_gateway_' });
    this.requests = new SeriesCounter({
      name: 'flotilla_gateway_requests_total',
      help: 'Requests answered by the gateway, by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    });
    this.duration = new SeriesHistogram({
      name: 'flotilla_gateway_request_duration_seconds',
      help: 'Time from request to response end, by route.',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers: [registry],
    });
    this.upstream = new SeriesHistogram({
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

  /**
   * Exposes the fast-path front's counters: requests it answered itself and connections it
   * handed to node:http (read at scrape time; nothing per request).
   */
  watchFront(stats: { readonly served: number; readonly handedOff: number }): void {
    const registers = [this.registry];
    new Counter({
      name: 'flotilla_gateway_fast_path_requests_total',
      help: 'Requests the fast-path front answered without node:http.',
      registers,
      collect() {
        this.reset();
        this.inc(stats.served);
      },
    });
    new Counter({
      name: 'flotilla_gateway_fast_path_handoffs_total',
      help: 'Client connections the fast-path front handed to node:http (a request it does not serve itself).',
      registers,
      collect() {
        this.reset();
        this.inc(stats.handedOff);
      },
    });
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
