import { ResilienceMetrics } from '@flotilla/resilience';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { CallRecord } from '../client/client.js';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A service's Prometheus metrics, in a registry of its own (two services in one test process
 * do not collide): RED metrics per route, outgoing calls per target, resilience policies and
 * the process metrics.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly resilience: ResilienceMetrics;
  private readonly requests: Counter<'service' | 'route' | 'method' | 'status'>;
  private readonly duration: Histogram<'service' | 'route' | 'method'>;
  private readonly calls: Counter<'service' | 'target' | 'endpoint' | 'status'>;
  private readonly callDuration: Histogram<'service' | 'target' | 'endpoint'>;

  constructor(private readonly service: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'flotilla_service_requests_total',
      help: 'Requests handled, by route and status',
      labelNames: ['service', 'route', 'method', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'flotilla_service_request_duration_seconds',
      help: 'Time to answer a request, by route',
      labelNames: ['service', 'route', 'method'],
      buckets: BUCKETS,
      registers,
    });
    this.calls = new Counter({
      name: 'flotilla_service_client_requests_total',
      help: 'Calls to other services, by target, endpoint and status (error: no answer)',
      labelNames: ['service', 'target', 'endpoint', 'status'],
      registers,
    });
    this.callDuration = new Histogram({
      name: 'flotilla_service_client_request_duration_seconds',
      help: 'Time of calls to other services, retries included',
      labelNames: ['service', 'target', 'endpoint'],
      buckets: BUCKETS,
      registers,
    });
    this.resilience = new ResilienceMetrics({ registry: this.registry });
  }

  /** Records one handled request. */
  request(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ service: this.service, route, method, status: String(status) });
    this.duration.observe({ service: this.service, route, method }, seconds);
  }

  /** Records one outgoing call. */
  readonly call = (record: CallRecord): void => {
    this.calls.inc({
      service: this.service,
      target: record.target,
      endpoint: record.endpoint,
      status: record.status,
    });
    this.callDuration.observe(
      { service: this.service, target: record.target, endpoint: record.endpoint },
      record.seconds,
    );
  };
}
