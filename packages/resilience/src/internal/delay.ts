import type { Clock, TimerHandle } from '@flotilla/core';
import type { CallContext, CancelListener } from './context.js';

class Sleeper implements CancelListener {
  timer: TimerHandle | undefined = undefined;
  constructor(
    readonly ctx: CallContext,
    readonly clock: Clock,
    readonly reject: (reason: unknown) => void,
  ) {}
  onCancel(reason: unknown): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.reject(reason);
  }
}

/** Waits `ms` on `clock`; rejects with the reason if `ctx` is cancelled first. */
export function delay(clock: Clock, ms: number, ctx: CallContext): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sleeper = new Sleeper(ctx, clock, reject);
    sleeper.timer = clock.setTimeout(() => {
      sleeper.timer = undefined;
      ctx.unlisten(sleeper);
      resolve();
    }, ms);
    if (ctx.cancellable) ctx.listen(sleeper);
  });
}
