import type { Logger } from '@flotilla/core';
import type { Pool } from 'pg';

/** What is waiting in one topic's outbox rows: committed, not yet confirmed by the broker. */
export interface OutboxTopicBacklog {
  readonly topic: string;
  readonly pending: number;
  /** Age of the oldest pending row, 0 when there is none. */
  readonly oldestAgeSeconds: number;
}

/** Longest a backlog read may run on the server; past it the last values are reported. */
const STATEMENT_TIMEOUT_MS = 1000;
/** Longest a scrape waits for a read, a pool connection included. */
const READ_DEADLINE_MS = 2000;

/**
 * `SET LOCAL` in the same simple query: the statements run as one implicit transaction, so the
 * timeout bounds this read alone and ends with it (on error too), in one round trip. The
 * partial index `flotilla_outbox_pending` (published_at IS NULL) keeps the scan to the pending
 * rows, a handful while the relay keeps up. The age is taken on the server's clock, the one that
 * wrote `created_at`.
 */
const READ_BACKLOG = `SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS};
  SELECT topic, count(*)::int AS pending,
    EXTRACT(EPOCH FROM clock_timestamp() - min(created_at))::float8 AS age
  FROM flotilla_outbox WHERE published_at IS NULL GROUP BY topic`;

interface TopicState {
  pending: number;
  /** Age of the oldest pending row when it was read. */
  age: number;
  /** `performance.now()` of that read. */
  readAt: number;
}

/** The backlog of one database's outbox, read at most once at a time. */
class PoolBacklog {
  /** Every topic seen pending or published, kept at 0 once drained: its series reads 0, not absent. */
  private readonly topics = new Map<string, TopicState>();
  private reading: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly logger: Logger,
  ) {}

  /** Reads the backlog (or joins the read in progress); on failure keeps the last values. */
  async refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, READ_DEADLINE_MS);
    });
    await Promise.race([this.reading, deadline]);
    clearTimeout(timer);
  }

  /** Gives `topic` a series at 0 until a read finds rows of it pending. */
  seen(topic: string): void {
    if (!this.topics.has(topic)) this.topics.set(topic, { pending: 0, age: 0, readAt: performance.now() });
  }

  /** The last values read; a pending row's age keeps growing between reads. */
  snapshot(): OutboxTopicBacklog[] {
    const now = performance.now();
    return [...this.topics].map(([topic, { pending, age, readAt }]) => ({
      topic,
      pending,
      oldestAgeSeconds: pending === 0 ? 0 : age + (now - readAt) / 1000,
    }));
  }

  private async read(): Promise<void> {
    try {
      const results = (await this.pool.query(READ_BACKLOG)) as unknown as {
        rows: { topic: string; pending: number; age: number }[];
      }[];
      const readAt = performance.now();
      for (const state of this.topics.values()) Object.assign(state, { pending: 0, age: 0, readAt });
      for (const { topic, pending, age } of results[1]?.rows ?? []) {
        this.topics.set(topic, { pending, age, readAt });
      }
    } catch (error) {
      this.logger.debug({ err: error }, 'outbox backlog read failed; reporting the last values');
    }
  }
}

/** The outboxes of this process's running relays, by pool: relays of one pool share one read. */
const tracked = new Map<Pool, { backlog: PoolBacklog; relays: number }>();

/** A relay's hold on its outbox's backlog gauges. */
export interface BacklogTracking {
  /** Notes topics the relay published, so a healthy outbox shows them at 0 rather than no series. */
  published(topics: Iterable<string>): void;
  /** Stops reporting this outbox once no other relay of its pool runs. */
  release(): void;
}

/**
 * Reports `pool`'s outbox backlog in every registry with bus metrics, until `release`. The relay
 * does this while it runs, standby included, so a hung or lock-less relay still shows the rows
 * piling up.
 */
export function trackOutboxBacklog(pool: Pool, logger: Logger): BacklogTracking {
  let entry = tracked.get(pool);
  if (entry === undefined) {
    entry = { backlog: new PoolBacklog(pool, logger), relays: 0 };
    tracked.set(pool, entry);
  }
  entry.relays++;
  const { backlog } = entry;
  let released = false;
  return {
    published: (topics) => {
      for (const topic of topics) backlog.seen(topic);
    },
    release: () => {
      if (released) return;
      released = true;
      const current = tracked.get(pool);
      if (current !== undefined && --current.relays === 0) tracked.delete(pool);
    },
  };
}

/**
 * The backlog per topic over the tracked outboxes (pending summed, oldest age the largest).
 * Never throws: a failed or slow read reports the last values.
 */
export async function readOutboxBacklog(): Promise<OutboxTopicBacklog[]> {
  const entries = [...tracked.values()];
  await Promise.all(entries.map(({ backlog }) => backlog.refresh()));
  const byTopic = new Map<string, { pending: number; oldestAgeSeconds: number }>();
  for (const { backlog } of entries) {
    for (const { topic, pending, oldestAgeSeconds } of backlog.snapshot()) {
      const sum = byTopic.get(topic) ?? { pending: 0, oldestAgeSeconds: 0 };
      sum.pending += pending;
      sum.oldestAgeSeconds = Math.max(sum.oldestAgeSeconds, oldestAgeSeconds);
      byTopic.set(topic, sum);
    }
  }
  return [...byTopic].map(([topic, sum]) => ({ topic, ...sum }));
}
