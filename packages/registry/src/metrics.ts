import { Counter, collectDefaultMetrics, Gauge, Registry as PrometheusRegistry } from 'prom-client';
import type { Registry, RegistryHooks } from './registry.js';

/** The registry's Prometheus metrics (`/metrics`), on a Prometheus registry of their own. */
export interface RegistryMetrics {
  readonly prometheus: PrometheusRegistry;
  /** Pass to `new Registry({ hooks })`. */
  readonly hooks: RegistryHooks;
  readonly watchers: Gauge;
  /** Reads instance counts and self-preservation from `registry` at scrape time. */
  bind(registry: Registry): void;
}

/**
 * Creates the metrics. Names follow `flotilla_registry_<thing>_<unit>`; the process's CPU and
 * memory come from prom-client's default metrics (`process_cpu_seconds_total`, …).
 */
export function createRegistryMetrics(options: { defaultMetrics?: boolean } = {}): RegistryMetrics {
  const prometheus = new PrometheusRegistry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: prometheus });
  let bound: Registry | undefined;
  const registers = [prometheus];

  const instances = new Gauge({
    name: 'flotilla_registry_instances',
    help: 'Registered instances by service and effective status',
    labelNames: ['service', 'status'],
    registers,
    collect() {
      this.reset();
      if (!bound) return;
      for (const summary of bound.services()) {
        for (const [status, count] of Object.entries(summary.statuses)) {
          this.set({ service: summary.name, status }, count);
        }
      }
    },
  });
  const renewals = new Counter({
    name: 'flotilla_registry_renewals_total',
    help: 'Lease renewals accepted by this registry process',
    registers,
  });
  new Gauge({
    name: 'flotilla_registry_renewals_per_second',
    help: 'Renewals per second over the self-preservation window, across every registry process',
    registers,
    collect() {
      const status = bound?.selfPreservation;
      const windowMs = bound?.maintenance.selfPreservation.options.windowMs ?? 1;
      this.set(status ? status.renewals / (windowMs / 1000) : 0);
    },
  });
  new Gauge({
    name: 'flotilla_registry_expected_renewals_per_second',
    help: 'Renewals per second the registered instances should send',
    registers,
    collect() {
      const status = bound?.selfPreservation;
      const windowMs = bound?.maintenance.selfPreservation.options.windowMs ?? 1;
      this.set(status ? status.expected / (windowMs / 1000) : 0);
    },
  });
  new Gauge({
    name: 'flotilla_registry_self_preservation_engaged',
    help: '1 while renewals are below the threshold and eviction is held back, else 0',
    registers,
    collect() {
      this.set(bound?.selfPreservation.preserving ? 1 : 0);
    },
  });
  new Gauge({
    name: 'flotilla_registry_renewal_ratio',
    help: 'Renewals received over renewals expected in the last window',
    registers,
    collect() {
      this.set(bound?.selfPreservation.ratio ?? 1);
    },
  });
  new Gauge({
    name: 'flotilla_registry_revision',
    help: 'Revision of the last change this process has seen',
    registers,
    collect() {
      this.set(bound?.revision ?? 0);
    },
  });
  const evictions = new Counter({
    name: 'flotilla_registry_evictions_total',
    help: 'Instances evicted by this registry process because their lease expired',
    labelNames: ['service'],
    registers,
  });
  const registrations = new Counter({
    name: 'flotilla_registry_registrations_total',
    help: 'Registrations (new or changed) accepted by this registry process',
    labelNames: ['service'],
    registers,
  });
  const deregistrations = new Counter({
    name: 'flotilla_registry_deregistrations_total',
    help: 'Deregistrations accepted by this registry process',
    labelNames: ['service'],
    registers,
  });
  const healthChecks = new Counter({
    name: 'flotilla_registry_health_checks_total',
    help: 'Active health probes by result',
    labelNames: ['service', 'result'],
    registers,
  });
  const watchers = new Gauge({
    name: 'flotilla_registry_watchers',
    help: 'Open watch streams on this registry process',
    registers,
  });
  void instances;

  return {
    prometheus,
    watchers,
    hooks: {
      renewed: (count) => renewals.inc(count),
      evicted: (i) => evictions.inc({ service: i.service }),
      registered: (i) => registrations.inc({ service: i.service }),
      deregistered: (i) => deregistrations.inc({ service: i.service }),
      healthChecked: (i, ok) => healthChecks.inc({ service: i.service, result: ok ? 'success' : 'failure' }),
    },
    bind(registry) {
      bound = registry;
    },
  };
}
