import type { Clock, TimerHandle } from '@flotilla/core';
import { type CallContext, type CancelListener, NONE } from './context.js';

/** A call waiting for admission. Linked-list node; a cancelled waiter is unlinked at once. */
class Waiter implements CancelListener {
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  timer: TimerHandle | undefined = undefined;
  settled = false;

  constructor(
    readonly queue: WaitQueue,
    readonly ctx: CallContext,
    readonly resolve: (token: number) => void,
    readonly reject: (error: unknown) => void,
  ) {}

  onCancel(reason: unknown): void {
    if (this.settled) return;
    this.queue.unlink(this);
    this.reject(reason);
  }
}

/**
 * FIFO queue of calls waiting for a slot, each for at most `maxWaitMs` and never past its
 * deadline. `timedOut` makes the rejection of a waiter whose wait ran out: `byDeadline` says
 * whether the call's own deadline (rather than `maxWaitMs`) ended it.
 */
export class WaitQueue {
  length = 0;
  private head: Waiter | undefined = undefined;
  private tail: Waiter | undefined = undefined;

  constructor(
    private readonly clock: Clock,
    private readonly maxWaitMs: number,
    private readonly timedOut: (byDeadline: boolean, ctx: CallContext) => unknown,
  ) {}

  /** Queues `ctx`; the promise resolves with the token `admit` hands over. */
  wait(ctx: CallContext, now: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter = new Waiter(this, ctx, resolve, reject);
      waiter.prev = this.tail;
      if (this.tail !== undefined) this.tail.next = waiter;
      else this.head = waiter;
      this.tail = waiter;
      this.length++;
      const left = ctx.dl - now;
      const byDeadline = left < this.maxWaitMs;
      const wait = byDeadline ? left : this.maxWaitMs;
      if (wait !== Number.POSITIVE_INFINITY) {
        waiter.timer = this.clock.setTimeout(() => {
          waiter.timer = undefined;
          if (waiter.settled) return;
          this.unlink(waiter);
          reject(this.timedOut(byDeadline, ctx));
        }, wait);
      }
      if (ctx.cancellable) ctx.listen(waiter);
    });
  }

  /**
   * Hands a slot to the oldest waiter still live, resolving it with `token`; waiters cancelled
   * meanwhile are rejected on the way. Returns false when nobody was waiting.
   */
  admit(token: number): boolean {
    for (let w = this.head; w !== undefined; w = this.head) {
      this.unlink(w);
      const reason = w.ctx.cancelReason();
      if (reason !== NONE) {
        w.reject(reason);
        continue;
      }
      w.resolve(token);
      return true;
    }
    return false;
  }

  /** @internal */
  unlink(w: Waiter): void {
    if (w.settled) return;
    w.settled = true;
    this.length--;
    if (w.prev !== undefined) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next !== undefined) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = undefined;
    w.next = undefined;
    if (w.timer !== undefined) {
      this.clock.clearTimeout(w.timer);
      w.timer = undefined;
    }
    w.ctx.unlisten(w);
  }
}
