import { Counter, Gauge, register as globalRegistry, Histogram, type Registry } from 'prom-client';
import { readOutboxBacklog } from './outbox/backlog.js';

/** How a delivery was settled. */
export type HandledOutcome = 'ack' | 'retry' | 'dead_letter';

/** Options of `BusMetrics`. */
export interface BusMetricsOptions {
  /** Registry to register the metrics in. Default: prom-client's global registry. */
  registry?: Registry;
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Instruments {
  readonly published: Counter<'topic'>;
  readonly handled: Counter<'topic' | 'group' | 'outcome'>;
  readonly duration: Histogram<'topic' | 'group'>;
  readonly outboxPending: Gauge<'topic'>;
  readonly outboxOldestAge: Gauge<'topic'>;
}

/** One set of metric objects per registry: prom-client refuses a name registered twice. */
const instrumentsByRegistry = new WeakMap<Registry, Instruments>();

function instruments(registry: Registry): Instruments {
  let found = instrumentsByRegistry.get(registry);
  if (found === undefined) {
    const registers = [registry];
    found = {
      published: new Counter({
        name: 'flotilla_bus_messages_published_total',
        help: 'Messages the broker confirmed, by topic (outbox relay forwards included)',
        labelNames: ['topic'],
        registers,
      }),
      handled: new Counter({
        name: 'flotilla_bus_messages_handled_total',
        help: 'Deliveries settled by a subscription: ack, retry or dead_letter',
        labelNames: ['topic', 'group', 'outcome'],
        registers,
      }),
      duration: new Histogram({
        name: 'flotilla_bus_handler_duration_seconds',
        help: 'Time a subscription handler ran, successful or not',
        labelNames: ['topic', 'group'],
        buckets: BUCKETS,
        registers,
      }),
      // Read at scrape time from the outboxes of the relays running in this process (both
      // gauges share one query), so a service with an outbox reports them without wiring.
      outboxPending: new Gauge({
        name: 'flotilla_bus_outbox_pending',
        help: 'Outbox rows committed but not yet confirmed published, by topic',
        labelNames: ['topic'],
        registers,
        async collect() {
          const backlog = await readOutboxBacklog();
          this.reset();
          for (const { topic, pending } of backlog) this.set({ topic }, pending);
        },
      }),
      outboxOldestAge: new Gauge({
        name: 'flotilla_bus_outbox_oldest_age_seconds',
        help: 'Age of the oldest outbox row not yet confirmed published, by topic; 0 when none',
        labelNames: ['topic'],
        registers,
        async collect() {
          const backlog = await readOutboxBacklog();
          this.reset();
          for (const { topic, oldestAgeSeconds } of backlog) this.set({ topic }, oldestAgeSeconds);
        },
      }),
    };
    instrumentsByRegistry.set(registry, found);
  }
  return found;
}

/**
 * Prometheus metrics of a bus (`createBus({ metrics })`), named `flotilla_bus_<thing>_<unit>`.
 * Several buses may share one registry: they share its metric objects.
 */
export class BusMetrics {
  private readonly instruments: Instruments;

  constructor(options: BusMetricsOptions = {}) {
    this.instruments = instruments(options.registry ?? globalRegistry);
  }

  /** Counts `count` messages of `topic` confirmed by the broker. */
  published(topic: string, count = 1): void {
    this.instruments.published.inc({ topic }, count);
  }

  /** Counts one settled delivery. */
  handled(topic: string, group: string, outcome: HandledOutcome): void {
    this.instruments.handled.inc({ topic, group, outcome });
  }

  /** Records how long one handler call took. */
  handlerDuration(topic: string, group: string, seconds: number): void {
    this.instruments.duration.observe({ topic, group }, seconds);
  }
}
