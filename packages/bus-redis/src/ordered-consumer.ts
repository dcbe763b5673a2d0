import type { ConsumeSpec, Delivery, DeliveryHandler, RetryRequest } from '@flotilla/bus';
import { type ConsumerContext, keyOf, RedisConsumer } from './consumer.js';
import { createDelivery } from './delivery.js';
import { type Entry, parseEntry } from './entry.js';
import { Lease } from './lease.js';
import { type ScriptedRedis, withScripts } from './scripts.js';

/** Settings of an ordered consumer. */
export interface OrderedSettings {
  /** TTL of the group's lease: how long a crashed active consumer blocks its group. */
  readonly leaseTtlMs: number;
  /** How often a standby tries to acquire the lease. */
  readonly standbyRetryMs: number;
}

type PendingRow = [id: string, consumer: string, idleMs: number, deliveries: number];

/**
 * The consumer of an `ordered: true` subscription. One consumer of the group is active at a time:
 * the holder of the group's lease (`src/lease.ts`); the others stand by and try to acquire it every
 * `standbyRetryMs`. A new holder first moves every entry pending in the group to itself and reads
 * them back in stream order, then reads new entries — each read in a script that checks the lease
 * first, and each settle fenced by the lease token. Inside the active consumer the entries of one
 * key run one after another, in stream order, and a failed one is retried in place (kept pending,
 * run again after the delay), so nothing of its key overtakes it; entries without a key are not
 * ordered (they run and retry as in an unordered consumer).
 *
 * A term ends when the lease is lost (renewal refused, or not renewed within its TTL), when Redis
 * refuses a settle or a read by the fence, or when a settle fails: no entry starts after that, and
 * the entries it still holds stay pending, to be read back in order by the next term.
 */
export class OrderedRedisConsumer extends RedisConsumer {
  private readonly lease: Lease;
  private readonly reader: ScriptedRedis;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly sleepers = new Set<() => void>();
  /** While set, the term reads its own pending entries back (per stream: the id to go on after). */
  private catchUp: Map<string, string> | undefined;

  constructor(
    ctx: ConsumerContext,
    spec: ConsumeSpec,
    handler: DeliveryHandler,
    private readonly settings: OrderedSettings,
  ) {
    super(ctx, spec, handler);
    this.reader = withScripts(ctx.reader);
    this.lease = new Lease(ctx.redis, this.leaseKey, ctx.name, settings.leaseTtlMs, ctx.logger);
  }

  override async close(): Promise<void> {
    this.running = false;
    this.wakeSleepers();
    await super.close();
    // After the handlers finished: a standby takes over now instead of after the TTL.
    await this.lease.release();
  }

  override abandon(): void {
    super.abandon();
    this.lease.abandon();
    this.wakeSleepers();
  }

  protected override leaseLost(token: string): void {
    if (this.lease.holds(token))
      this.lease.lost('Redis refused a settle: the lease key is gone or held by another instance');
  }

  protected override async maintain(): Promise<void> {
    this.nextMaintenance = Date.now() + this.ctx.pollIntervalMs;
    if (this.lease.token === undefined) return;
    // Due retries of entries without a key (keyed ones are retried in place).
    await this.promote();
    if (Math.random() < 1 / 30) {
      const minIdle = Math.max(10 * this.ctx.pollIntervalMs, 2 * this.ctx.visibilityTimeoutMs);
      for (const stream of this.streams)
        await this.ctx.redis.flotillaBusPrune(stream, this.group, minIdle, '');
    }
  }

  /** After the reader reconnected: a read whose reply was lost left entries in the pending list. */
  protected override async history(): Promise<void> {
    this.readHistory = false;
    if (this.lease.token !== undefined) this.catchUp = new Map(this.streams.map((s) => [s, '-']));
  }

  protected override async read(free: number): Promise<void> {
    const token = this.lease.token;
    if (token === undefined) return this.standBy();
    if (this.catchUp !== undefined) return this.readOwn(token, free);
    const [topic, retry] = this.streams;
    const reply = await this.reader.flotillaBusOrderedRead(
      topic,
      retry,
      this.leaseKey,
      this.group,
      this.ctx.name,
      free,
      token,
    );
    if (this.abandoned) return;
    if (reply === -1) return this.lease.lost('the lease key is gone or held by another instance');
    if (reply[0] === 0) return this.block(reply[1], reply[2]);
    const entries: Entry[] = [];
    for (const [stream, raw] of reply[1]) {
      for (const [id, fields] of raw) {
        if (fields !== null) entries.push(parseEntry(stream, stream === retry, id, fields));
      }
    }
    for (const entry of entries.sort(byId)) this.take(entry, 1, token);
  }

  /** Waits for entries newer than the streams' last ids (on the reader, so `close` can unblock it). */
  private async block(topicId: string, retryId: string): Promise<void> {
    if (this.readerId === undefined) this.readerId = String(await this.reader.call('CLIENT', 'ID'));
    const block = Math.max(1, Math.min(this.ctx.pollIntervalMs, this.nextMaintenance - Date.now()));
    await this.reader.call('XREAD', 'BLOCK', block, 'STREAMS', ...this.streams, topicId, retryId);
  }

  private async standBy(): Promise<void> {
    // The ended term's handlers finish first: a new term would deliver their entries again.
    if (this.inFlight.size > 0) return this.wait(this.ctx.pollIntervalMs);
    await this.lease.releaseStale();
    if (!(await this.lease.acquire())) {
      this.ctx.logger.debug('another instance is the active ordered consumer; standing by');
      return this.wait(this.settings.standbyRetryMs);
    }
    const token = this.lease.token ?? '';
    let moved = 0;
    for (const stream of this.streams) {
      const n = await this.ctx.redis.flotillaBusTakeOver(
        stream,
        this.leaseKey,
        this.group,
        this.ctx.name,
        token,
      );
      if (n === -1) return this.lease.lost('the lease key is gone or held by another instance');
      moved += n;
    }
    this.catchUp = new Map(this.streams.map((s) => [s, '-']));
    this.ctx.logger.info({ takenOver: moved }, 'became the active ordered consumer of the group');
  }

  /**
   * Reads this consumer's pending entries back in stream order (across both streams), after the
   * ones in flight, until none is left; then the term reads new entries.
   */
  private async readOwn(token: string, free: number): Promise<void> {
    const cursors = this.catchUp ?? new Map<string, string>();
    const limit = free + this.inFlight.size;
    const pages = await Promise.all(
      this.streams.map(async (stream) => {
        const rows = (await this.ctx.redis.call(
          'XPENDING',
          stream,
          this.group,
          cursors.get(stream) ?? '-',
          '+',
          limit,
          this.ctx.name,
        )) as PendingRow[];
        return { stream, rows };
      }),
    );
    // A full page may be followed by older ids than the other stream's next rows: merge only up to it.
    let cutoff: string | undefined;
    for (const { rows } of pages) {
      const last = rows.length === limit ? rows[rows.length - 1]?.[0] : undefined;
      if (last !== undefined && (cutoff === undefined || compareIds(last, cutoff) < 0)) cutoff = last;
    }
    const rows = pages
      .flatMap(({ stream, rows }) => rows.map(([id, , , deliveries]) => ({ stream, id, deliveries })))
      .filter((row) => cutoff === undefined || compareIds(row.id, cutoff) <= 0)
      .sort(byId);
    if (rows.length === 0) {
      this.catchUp = undefined;
      return;
    }
    const taken: typeof rows = [];
    for (const row of rows) {
      if (taken.length >= free) break;
      cursors.set(row.stream, `(${row.id}`);
      if (!this.inFlight.has(`${row.stream} ${row.id}`)) taken.push(row);
    }
    const entries: { entry: Entry; deliveries: number }[] = [];
    for (const stream of this.streams) {
      const ids = taken.filter((row) => row.stream === stream).map((row) => row.id);
      if (ids.length === 0) continue;
      const claimed = await this.ctx.redis.flotillaBusClaimOwn(
        stream,
        this.leaseKey,
        this.group,
        this.ctx.name,
        ...ids,
        token,
      );
      if (claimed === -1) return this.lease.lost('the lease key is gone or held by another instance');
      // Entries trimmed from the stream are not returned (Redis drops them from the pending list).
      for (const [id, fields] of claimed) {
        const row = taken.find((r) => r.stream === stream && r.id === id);
        if (fields === null || row === undefined) continue;
        const entry = parseEntry(stream, stream === this.streams[1], id, fields);
        entries.push({ entry, deliveries: row.deliveries + 1 });
      }
    }
    entries.sort((a, b) => byId(a.entry, b.entry));
    for (const { entry, deliveries } of entries) this.take(entry, deliveries, token);
  }

  /** Queues an entry behind the earlier entries of its key (entries without a key run at once). */
  private take(entry: Entry, deliveries: number, token: string): void {
    const slot = keyOf(entry);
    if (this.inFlight.has(slot)) return;
    this.inFlight.set(slot, entry);
    const key = entry.envelope.key;
    const keyed = typeof key === 'string';
    const run = (): Promise<void> =>
      this.runEntry(entry, deliveries, token, keyed)
        .catch((error: unknown) => this.ctx.logger.error({ err: error }, 'ordered delivery failed'))
        .finally(() => this.settled(slot));
    if (!keyed) {
      void run();
      return;
    }
    const next = (this.chains.get(key) ?? Promise.resolve()).then(run);
    this.chains.set(key, next);
    void next.finally(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  /**
   * Runs one entry until it is settled: a keyed entry's failed attempts are retried here, after
   * the backoff delay, each counted as a delivery in the group's pending list.
   */
  private async runEntry(entry: Entry, deliveries: number, token: string, inPlace: boolean): Promise<void> {
    let attempt = entry.baseAttempt + deliveries - 1;
    let firstFailureAt = entry.firstFailureAt;
    for (;;) {
      // Nothing starts once the term ended: the entry stays pending and the next term reads it
      // back in order, before anything of its key that came after it.
      if (!this.running || this.abandoned || !this.lease.holds(token)) return;
      let again: RetryRequest | undefined;
      let settled = false;
      const done = (): void => {
        settled = true;
      };
      const delivery = createDelivery(this.owner, { ...entry, firstFailureAt }, attempt, token);
      const tracked: Delivery = {
        ...delivery,
        ack: () => delivery.ack().then(done),
        deadLetter: (request) => delivery.deadLetter(request).then(done),
        retry: inPlace
          ? async (request) => {
              firstFailureAt ??= request.failedAt;
              again = request;
            }
          : (request) => delivery.retry(request).then(done),
      };
      await this.handler(tracked);
      const retry: RetryRequest | undefined = again;
      if (retry === undefined) {
        // A settle that failed leaves the entry pending here, where only a new term finds it; the
        // entries behind it must not run first.
        if (!settled && this.lease.holds(token)) this.lease.lost('a settle failed');
        return;
      }
      await this.sleep(retry.delayMs);
      if (!this.running || this.abandoned || !this.lease.holds(token)) return;
      const count = await this.ctx.redis
        .flotillaBusRedeliver(entry.stream, this.leaseKey, this.group, this.ctx.name, entry.id, token)
        .catch((error: unknown) => {
          this.ctx.logger.warn({ err: error }, 'counting an in-place retry failed');
          return 0;
        });
      if (count <= 0) {
        if (this.lease.holds(token))
          this.lease.lost(count === -1 ? 'Redis refused a retry' : 'a retry failed');
        return;
      }
      attempt = entry.baseAttempt + count - 1;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  private wakeSleepers(): void {
    for (const wake of this.sleepers) wake();
  }
}

/** Orders stream ids (`<ms>-<seq>`) numerically. */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am - bm || as - bs;
}

function byId(a: { id: string }, b: { id: string }): number {
  return compareIds(a.id, b.id);
}
