import type { Redis } from 'ioredis';

interface PendingAck {
  readonly id: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Acknowledges one group's entries of one topic stream in batches: the acks asked for while one
 * burst of promise callbacks runs (the handlers of one read finishing together) go out as a single
 * `XACK <stream> <group> <id>…`. Each ack still resolves only once Redis has acknowledged its
 * entry, and is asked for only after its handler resolved, so at-least-once is unchanged; a
 * failed XACK fails every ack of its batch, and their entries stay pending for redelivery.
 *
 * Only for entries that are acknowledged and nothing else: a retry copy must also be deleted in
 * the same step (the ack script).
 */
export class AckBatcher {
  private pending: PendingAck[] = [];

  constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly group: string,
  ) {}

  /** Acknowledges `id`; resolves when Redis has done so. */
  ack(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // process.nextTick runs once the current promise jobs have drained, so it collects every
      // ack of that burst; it adds no event-loop turn (auto-pipelining sends on the next one).
      if (this.pending.length === 0) process.nextTick(() => this.flush());
      this.pending.push({ id, resolve, reject });
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    const fail = (error: unknown): void => {
      for (const a of batch) a.reject(error);
    };
    try {
      this.redis.xack(this.stream, this.group, ...batch.map((a) => a.id)).then(() => {
        for (const a of batch) a.resolve();
      }, fail);
    } catch (error) {
      fail(error);
    }
  }
}
