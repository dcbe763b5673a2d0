import { STAGE, type StageDescriptor, type TimeoutStage } from './internal/stage.js';
import { checkPositive } from './internal/validate.js';
import { BasePolicy, type PolicyOptions } from './policy.js';

export interface TimeoutOptions extends PolicyOptions {}

export interface TimeoutSnapshot {
  kind: 'timeout';
  name: string;
  timeoutMs: number;
  /** Attempts cut off by this policy's own duration. */
  timeouts: number;
  /** Attempts cut off because the caller's (inherited) deadline came first. */
  deadlineExceeded: number;
}

/**
 * Per-attempt timeout, expressed as a deadline: an attempt runs until the earlier of
 * `now + ms` and the caller's deadline, so a nested call never gets more time than its caller
 * has left. At the deadline the caller gets `DeadlineExceededError` at once (the work is not
 * awaited) and the work's `ctx.signal` is aborted with that error.
 */
export class TimeoutPolicy extends BasePolicy implements TimeoutStage {
  readonly kind = 'timeout' as const;
  readonly ms: number;
  private timeouts = 0;
  private deadlineExceeded = 0;

  constructor(ms: number, options: TimeoutOptions = {}) {
    super('timeout', options);
    this.ms = checkPositive('Timeout', 'ms', ms);
  }

  timedOut(deadline: number, byThisPolicy: boolean, now: number): void {
    if (byThisPolicy) this.timeouts++;
    else this.deadlineExceeded++;
    if (this.events.active) {
      this.events.emit({
        type: 'timed-out',
        policy: this.name,
        kind: 'timeout',
        at: now,
        timeoutMs: byThisPolicy ? this.ms : undefined,
        deadline,
      });
    }
  }

  snapshot(): TimeoutSnapshot {
    return {
      kind: 'timeout',
      name: this.name,
      timeoutMs: this.ms,
      timeouts: this.timeouts,
      deadlineExceeded: this.deadlineExceeded,
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'timeout', timeout: this, clock: this.clock };
  }
}

/** A per-attempt timeout of `ms` milliseconds (bounded by the caller's deadline). */
export function timeout(ms: number, options?: TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(ms, options);
}
