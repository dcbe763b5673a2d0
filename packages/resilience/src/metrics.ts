import { Counter, Gauge, register as globalRegistry, type Registry } from 'prom-client';
import type { CircuitState } from './events.js';
import type { Policy, PolicySnapshot } from './policy.js';
import { Pipeline } from './wrap.js';

/**
 * Prometheus metrics of resilience policies. Values are read from the policies' snapshots when
 * Prometheus scrapes, so metrics cost nothing on the call path. Names follow
 * `flotilla_resilience_<thing>_<unit>` with `policy` and `target` labels.
 */

export interface ResilienceMetricsOptions {
  /** Registry to register the metrics in. Default: prom-client's global registry. */
  registry?: Registry;
}

export interface MetricLabels {
  /** What the policy protects (a service, a route). Default ''. */
  target?: string;
}

interface Registration {
  policy: Policy;
  target: string;
}

type Labels = Record<string, string>;
type Emit = (labels: Labels, value: number) => void;

const STATES: readonly CircuitState[] = ['CLOSED', 'OPEN', 'HALF_OPEN', 'FORCED_OPEN', 'DISABLED'];

/** One set of metric objects per registry (prom-client refuses duplicate names). */
class MetricSet {
  readonly registrations = new Map<Policy, Registration>();

  constructor(registry: Registry) {
    const all = () => this.snapshots();
    const counter = (
      name: string,
      help: string,
      labelNames: string[],
      read: (s: Snap, emit: Emit) => void,
    ) => {
      new Counter({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const s of all()) read(s, (labels, value) => this.inc(labels, value));
        },
      });
    };
    const gauge = (name: string, help: string, labelNames: string[], read: (s: Snap, emit: Emit) => void) => {
      new Gauge({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const s of all()) read(s, (labels, value) => this.set(labels, value));
        },
      });
    };
    const base = ['policy', 'target'];

    gauge(
      'flotilla_resilience_circuit_state',
      'Circuit breaker state (1 for the current state).',
      [...base, 'state'],
      ({ snap, labels }, emit) => {
        if (snap.kind !== 'circuit-breaker') return;
        for (const state of STATES) emit({ ...labels, state }, state === snap.state ? 1 : 0);
      },
    );
    counter(
      'flotilla_resilience_circuit_calls_total',
      'Calls recorded by a circuit breaker, by outcome.',
      [...base, 'outcome'],
      ({ snap, labels }, emit) => {
        if (snap.kind !== 'circuit-breaker') return;
        emit({ ...labels, outcome: 'success' }, snap.successfulCalls);
        emit({ ...labels, outcome: 'failure' }, snap.failedCalls);
        emit({ ...labels, outcome: 'ignored' }, snap.ignoredCalls);
      },
    );
    counter(
      'flotilla_resilience_circuit_slow_calls_total',
      'Calls slower than the slow-call threshold.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'circuit-breaker') emit(labels, snap.slowCalls);
      },
    );
    gauge(
      'flotilla_resilience_circuit_failure_rate_percent',
      'Failure rate of the sliding window (-1 below the minimum calls).',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'circuit-breaker') emit(labels, snap.failureRate);
      },
    );
    counter(
      'flotilla_resilience_circuit_transitions_total',
      'Circuit breaker state changes.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'circuit-breaker') emit(labels, snap.transitions);
      },
    );
    counter(
      'flotilla_resilience_rejected_calls_total',
      'Calls a policy refused without running them.',
      [...base, 'kind'],
      ({ snap, labels }, emit) => {
        const l = { ...labels, kind: snap.kind };
        if (snap.kind === 'circuit-breaker') emit(l, snap.notPermittedCalls);
        else if (
          snap.kind === 'bulkhead' ||
          snap.kind === 'adaptive-concurrency' ||
          snap.kind === 'rate-limiter'
        )
          emit(l, snap.rejectedCalls);
      },
    );
    counter(
      'flotilla_resilience_admitted_calls_total',
      'Calls a bulkhead, limiter or rate limiter let through.',
      [...base, 'kind'],
      ({ snap, labels }, emit) => {
        const l = { ...labels, kind: snap.kind };
        if (snap.kind === 'bulkhead' || snap.kind === 'adaptive-concurrency') emit(l, snap.admittedCalls);
        else if (snap.kind === 'rate-limiter') emit(l, snap.permittedCalls);
      },
    );
    gauge(
      'flotilla_resilience_active_calls',
      'Calls running inside a bulkhead or concurrency limiter.',
      [...base, 'kind'],
      ({ snap, labels }, emit) => {
        if (snap.kind === 'bulkhead') emit({ ...labels, kind: snap.kind }, snap.activeCalls);
        else if (snap.kind === 'adaptive-concurrency') emit({ ...labels, kind: snap.kind }, snap.inflight);
      },
    );
    gauge(
      'flotilla_resilience_queued_calls',
      'Calls waiting in a bulkhead or adaptive concurrency queue.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'bulkhead' || snap.kind === 'adaptive-concurrency') emit(labels, snap.queuedCalls);
      },
    );
    gauge(
      'flotilla_resilience_concurrency_limit_calls',
      'Concurrent calls allowed now (bulkhead size or adaptive limit).',
      [...base, 'kind'],
      ({ snap, labels }, emit) => {
        if (snap.kind === 'bulkhead') emit({ ...labels, kind: snap.kind }, snap.maxConcurrentCalls);
        else if (snap.kind === 'adaptive-concurrency') emit({ ...labels, kind: snap.kind }, snap.limit);
      },
    );
    counter('flotilla_resilience_retries_total', 'Retries started.', base, ({ snap, labels }, emit) => {
      if (snap.kind === 'retry') emit(labels, snap.retries);
    });
    counter(
      'flotilla_resilience_retry_gave_up_total',
      'Failed calls not retried, by reason.',
      [...base, 'reason'],
      ({ snap, labels }, emit) => {
        if (snap.kind !== 'retry') return;
        for (const [reason, n] of Object.entries(snap.gaveUp)) emit({ ...labels, reason }, n);
      },
    );
    gauge(
      'flotilla_resilience_retry_budget_available_retries',
      'Retries the budget allows now.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'retry' && snap.budget !== undefined) emit(labels, snap.budget.available);
      },
    );
    counter(
      'flotilla_resilience_timeouts_total',
      'Attempts cut off at their deadline.',
      [...base, 'cause'],
      ({ snap, labels }, emit) => {
        if (snap.kind !== 'timeout') return;
        emit({ ...labels, cause: 'timeout' }, snap.timeouts);
        emit({ ...labels, cause: 'deadline' }, snap.deadlineExceeded);
      },
    );
    counter(
      'flotilla_resilience_hedges_total',
      'Hedged attempts started.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'hedge') emit(labels, snap.hedges);
      },
    );
    counter(
      'flotilla_resilience_hedge_wins_total',
      'Calls answered by a hedged attempt.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'hedge') emit(labels, snap.hedgeWins);
      },
    );
    counter(
      'flotilla_resilience_fallbacks_total',
      'Calls answered by a fallback.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'fallback') emit(labels, snap.fallbacks);
      },
    );
    counter(
      'flotilla_resilience_rate_limit_backend_errors_total',
      'Rate limit decisions made without the backend (Redis) because it failed.',
      base,
      ({ snap, labels }, emit) => {
        if (snap.kind === 'rate-limiter') emit(labels, snap.backendErrors);
      },
    );
  }

  private snapshots(): Snap[] {
    const out: Snap[] = [];
    for (const { policy, target } of this.registrations.values()) {
      out.push({ snap: policy.snapshot(), labels: { policy: policy.name, target } });
    }
    return out;
  }
}

interface Snap {
  snap: PolicySnapshot;
  labels: Labels;
}

const sets = new WeakMap<Registry, MetricSet>();

/** Exposes policies as Prometheus metrics in a prom-client registry. */
export class ResilienceMetrics {
  private readonly set: MetricSet;

  constructor(options: ResilienceMetricsOptions = {}) {
    const registry = options.registry ?? globalRegistry;
    let set = sets.get(registry);
    if (set === undefined) {
      set = new MetricSet(registry);
      sets.set(registry, set);
    }
    this.set = set;
  }

  /** Adds a policy (a pipeline adds each of its policies); returns the function that removes it. */
  register(policy: Policy, labels: MetricLabels = {}): () => void {
    const policies = policy instanceof Pipeline ? policy.policies : [policy];
    const target = labels.target ?? '';
    for (const p of policies) this.set.registrations.set(p, { policy: p, target });
    return () => {
      for (const p of policies) this.set.registrations.delete(p);
    };
  }
}
