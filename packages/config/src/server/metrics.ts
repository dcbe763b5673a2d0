import { Counter, Gauge, Registry } from 'prom-client';

/** The config server's Prometheus metrics, on a registry of its own (one per server). */
export class ConfigMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'flotilla_config_requests_total',
    help: 'HTTP requests answered, by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  readonly watchers = new Gauge({
    name: 'flotilla_config_watchers',
    help: 'Open watch (server-sent events) streams',
    registers: [this.registry],
  });

  readonly pushes = new Counter({
    name: 'flotilla_config_pushes_total',
    help: 'Events pushed to watchers, by kind (config, problem)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly reloads = new Counter({
    name: 'flotilla_config_source_changes_total',
    help: 'New snapshots taken by the sources, by source kind',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
}
