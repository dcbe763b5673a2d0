import type { Consumer, ConsumeSpec, DeliveryHandler } from '@flotilla/bus';
import type { Logger } from '@flotilla/core';
import type { Redis } from 'ioredis';
import { AckBatcher } from './acks.js';
import { createDelivery, type DeliveryOwner } from './delivery.js';
import { type Entry, parseEntry, type RawEntry } from './entry.js';
import type { Keys } from './keys.js';
import type { ScriptedRedis } from './scripts.js';

/** What a consumer shares with its adapter. */
export interface ConsumerContext {
  /** The adapter's command connection (settles, claims, renewals). */
  readonly redis: ScriptedRedis;
  /** This consumer's own connection, for the blocking XREADGROUP only. */
  readonly reader: Redis;
  readonly keys: Keys;
  readonly logger: Logger;
  /** Consumer name in the group, unique per consumer. */
  readonly name: string;
  readonly visibilityTimeoutMs: number;
  readonly pollIntervalMs: number;
  /** Creates the consumer groups again (after the stream was deleted). */
  readonly declare: () => Promise<void>;
}

/**
 * Competing consumer of one group on a topic: reads new entries of the topic stream and of the
 * group's retry stream with a blocking XREADGROUP, renews what it holds, and every poll interval
 * moves due retries into the retry stream and XAUTOCLAIMs entries idle longer than the
 * visibility timeout (held by a consumer that died).
 */
export class RedisConsumer implements Consumer {
  protected running = true;
  protected abandoned = false;
  protected readonly inFlight = new Map<string, Entry>();
  private wakePending = false;
  private waiter: (() => void) | undefined;
  private idle: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  private readonly renewTimer: NodeJS.Timeout;
  protected readonly streams: readonly [string, string];
  private readonly cursors = new Map<string, string>();
  protected nextMaintenance = 0;
  protected readHistory = false;
  protected readerId: string | undefined;
  private readonly acks: AckBatcher;
  protected readonly owner: DeliveryOwner;
  protected readonly leaseKey: string;

  constructor(
    protected readonly ctx: ConsumerContext,
    readonly spec: ConsumeSpec,
    protected readonly handler: DeliveryHandler,
  ) {
    this.streams = [ctx.keys.topic(spec.topic), ctx.keys.retry(spec.topic, spec.group)];
    this.leaseKey = ctx.keys.lease(spec.topic, spec.group);
    this.acks = new AckBatcher(ctx.redis, this.streams[0], spec.group);
    this.owner = {
      ctx,
      topic: spec.topic,
      group: spec.group,
      abandoned: () => this.abandoned,
      // A topic entry is only acknowledged (other groups still read it): batched XACKs. A retry
      // copy is acknowledged and deleted in one script, so no settled copy is left behind. An
      // ordered consumer acknowledges every entry through that script, fenced by its lease token.
      acknowledge: (entry, token) =>
        entry.copy || token !== ''
          ? ctx.redis.flotillaBusAck(
              entry.stream,
              this.leaseKey,
              spec.group,
              entry.id,
              entry.copy ? 1 : 0,
              token,
            )
          : this.acks.ack(entry.id),
      settled: (entry) => this.settled(keyOf(entry)),
      promote: () => this.promote(),
      leaseKey: this.leaseKey,
      leaseLost: (token) => this.leaseLost(token),
    };
    this.renewTimer = setInterval(
      () => void this.renew(),
      Math.max(10, Math.floor(ctx.visibilityTimeoutMs / 3)),
    );
    this.renewTimer.unref();
    // A read whose reply was lost with the connection left entries in this consumer's pending
    // list that no `>` read returns again: read its own history after every reconnect.
    let connected = false;
    ctx.reader.on('ready', () => {
      this.readHistory = connected;
      connected = true;
      this.readerId = undefined;
    });
  }

  /** Starts reading (after construction, so a subclass's fields exist when its overrides run). */
  start(): void {
    this.loop = this.run();
  }

  /** Looks again now (a slot freed, a retry fell due). */
  wake(): void {
    if (this.wakePending) return;
    this.wakePending = true;
    // After the promise jobs running now: the settles of one XACK reply all free their slots
    // first, so the next read asks for all of them at once instead of one read per slot.
    process.nextTick(() => this.waiter?.());
  }

  /** Stops reading and waits for the deliveries in flight to settle. */
  async close(): Promise<void> {
    this.running = false;
    this.wake();
    // Ends the blocking read at once; an unblocked XREADGROUP returns nothing, so nothing is lost.
    if (this.readerId !== undefined)
      await this.ctx.redis.call('CLIENT', 'UNBLOCK', this.readerId).catch(() => {});
    await this.loop;
    if (this.inFlight.size > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    clearInterval(this.renewTimer);
    this.ctx.reader.disconnect();
    // Forget this consumer's name in the group if it holds nothing (a failed settle leaves its
    // entry pending under the name, for XAUTOCLAIM to find).
    for (const stream of this.streams) {
      await this.ctx.redis.flotillaBusPrune(stream, this.group, 0, this.ctx.name).catch(() => {});
    }
  }

  /** Stops as a killed process would: no more reads, renewals or settles. */
  abandon(): void {
    this.abandoned = true;
    this.running = false;
    clearInterval(this.renewTimer);
    this.ctx.reader.disconnect();
    this.wake();
  }

  protected get group(): string {
    return this.spec.group;
  }

  /** A settle was refused by the lease fence (only ordered consumers settle with a token). */
  protected leaseLost(_token: string): void {}

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const free = this.spec.concurrency - this.inFlight.size;
        if (free <= 0) await this.wait(this.ctx.pollIntervalMs);
        else if (Date.now() >= this.nextMaintenance) await this.maintain(free);
        else if (this.readHistory) await this.history(free);
        else await this.read(free);
      } catch (error) {
        if (!this.running) break;
        if (String(error).includes('NOGROUP')) await this.ctx.declare().catch(() => {});
        this.ctx.logger.warn(
          { err: error },
          'reading the stream failed; trying again after the poll interval',
        );
        await this.wait(this.ctx.pollIntervalMs);
      }
    }
  }

  protected async read(free: number): Promise<void> {
    if (this.readerId === undefined) this.readerId = String(await this.ctx.reader.call('CLIENT', 'ID'));
    const block = Math.max(1, Math.min(this.ctx.pollIntervalMs, this.nextMaintenance - Date.now()));
    const reply = (await this.ctx.reader.call(
      'XREADGROUP',
      'GROUP',
      this.group,
      this.ctx.name,
      'COUNT',
      free,
      'BLOCK',
      block,
      'STREAMS',
      ...this.streams,
      '>',
      '>',
    )) as [string, RawEntry[]][] | null;
    if (this.abandoned) return;
    for (const [stream, entries] of reply ?? []) {
      for (const [id, fields] of entries) {
        if (fields !== null) this.dispatch(parseEntry(stream, stream === this.streams[1], id, fields), 1);
      }
    }
  }

  /**
   * Takes back this consumer's own pending entries that are not in flight (their read reply was
   * lost with the connection). XPENDING finds them without touching their delivery count; XCLAIM
   * counts this as the redelivery it is.
   */
  protected async history(free: number): Promise<void> {
    this.readHistory = false;
    for (const stream of this.streams) {
      const pending = (await this.ctx.redis.call(
        'XPENDING',
        stream,
        this.group,
        '-',
        '+',
        free + this.inFlight.size,
        this.ctx.name,
      )) as [string, string, number, number][];
      const ids = pending.map(([id]) => id).filter((id) => !this.inFlight.has(`${stream} ${id}`));
      if (ids.length === 0) continue;
      const entries = (await this.ctx.redis.call(
        'XCLAIM',
        stream,
        this.group,
        this.ctx.name,
        0,
        ...ids,
      )) as RawEntry[];
      await this.dispatchClaimed(stream, entries);
    }
  }

  /** Promotes due retries and claims entries whose consumer stopped renewing them. */
  protected async maintain(free: number): Promise<void> {
    this.nextMaintenance = Date.now() + this.ctx.pollIntervalMs;
    await this.promote();
    if (Math.random() < 1 / 30) {
      // Names of instances that stopped without closing stay in the group; drop the empty ones.
      const minIdle = Math.max(10 * this.ctx.pollIntervalMs, 2 * this.ctx.visibilityTimeoutMs);
      for (const stream of this.streams)
        await this.ctx.redis.flotillaBusPrune(stream, this.group, minIdle, '');
    }
    let left = free;
    for (const stream of this.streams) {
      if (left <= 0 || !this.running) break;
      const [next, entries] = (await this.ctx.redis.call(
        'XAUTOCLAIM',
        stream,
        this.group,
        this.ctx.name,
        this.ctx.visibilityTimeoutMs,
        this.cursors.get(stream) ?? '0-0',
        'COUNT',
        left,
      )) as [string, RawEntry[]];
      this.cursors.set(stream, next);
      left -= await this.dispatchClaimed(stream, entries);
    }
  }

  /** Moves the group's due retries into its retry stream (which wakes the blocking read). */
  promote(): Promise<number> {
    const { topic } = this.spec;
    const delayed = this.ctx.keys.delayed(topic, this.group);
    return this.ctx.redis.flotillaBusPromote(delayed, this.streams[1], Date.now(), 100);
  }

  /** Dispatches entries that were delivered before, with their delivery count from XPENDING. */
  protected async dispatchClaimed(stream: string, entries: RawEntry[]): Promise<number> {
    let count = 0;
    for (const [id, fields] of entries) {
      if (fields === null) {
        // Trimmed from the stream while pending: nothing left to deliver.
        await this.ctx.redis.call('XACK', stream, this.group, id);
        continue;
      }
      const pending = (await this.ctx.redis.call('XPENDING', stream, this.group, id, id, 1)) as [
        string,
        string,
        number,
        number,
      ][];
      const deliveries = pending[0]?.[3] ?? 1;
      this.dispatch(parseEntry(stream, stream === this.streams[1], id, fields), deliveries);
      count++;
    }
    return count;
  }

  protected async wait(ms: number): Promise<void> {
    if (!this.wakePending) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        timer.unref();
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    this.wakePending = false;
  }

  protected dispatch(entry: Entry, deliveries: number): void {
    const key = keyOf(entry);
    if (this.inFlight.has(key)) return;
    this.inFlight.set(key, entry);
    // One `then` instead of `catch` + `finally`: this runs for every message.
    this.handler(createDelivery(this.owner, entry, entry.baseAttempt + deliveries - 1)).then(
      () => this.settled(key),
      (error: unknown) => {
        this.ctx.logger.error({ err: error }, 'delivery handler failed');
        this.settled(key);
      },
    );
  }

  protected settled(key: string): void {
    if (!this.inFlight.delete(key)) return;
    if (this.inFlight.size === 0) this.idle?.();
    this.wake();
  }

  /** Resets the idle time of what this consumer holds, so XAUTOCLAIM leaves it alone. */
  private async renew(): Promise<void> {
    if (this.inFlight.size === 0 || this.abandoned) return;
    const byStream = new Map<string, string[]>();
    for (const entry of this.inFlight.values()) {
      byStream.set(entry.stream, [...(byStream.get(entry.stream) ?? []), entry.id]);
    }
    for (const [stream, ids] of byStream) {
      await this.ctx.redis
        .flotillaBusRenew(stream, this.group, this.ctx.name, ...ids)
        .catch((error: unknown) => this.ctx.logger.warn({ err: error }, 'renewing pending entries failed'));
    }
  }
}

/** Key of an entry in the consumer's in-flight map. */
export function keyOf(entry: Entry): string {
  return `${entry.stream} ${entry.id}`;
}
