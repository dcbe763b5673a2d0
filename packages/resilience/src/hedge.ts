import { CancelledError } from './errors.js';
import type { CallContext, CancelListener } from './internal/context.js';
import { DeadlineList, type TimedNode } from './internal/deadline-list.js';
import { type Runner, STAGE, type StageDescriptor } from './internal/stage.js';
import { checkInt, checkMin } from './internal/validate.js';
import { BasePolicy, type PolicyOptions } from './policy.js';
import type { RetryBudget } from './retry-budget.js';

export interface HedgeOptions extends PolicyOptions {
  /** Start another attempt when none has answered after this long. */
  delayMs: number;
  /** Extra attempts at most. Default 1. */
  maxHedges?: number;
  /** Whether calls are idempotent unless `execute` says otherwise. Default true. */
  idempotent?: boolean;
  /** Budget each hedge withdraws from (share the retry policy's to bound the extra load). */
  budget?: RetryBudget;
}

export interface HedgeSnapshot {
  kind: 'hedge';
  name: string;
  delayMs: number;
  calls: number;
  hedges: number;
  /** Calls answered by a hedge rather than the first attempt. */
  hedgeWins: number;
}

/**
 * Hedged requests ("The Tail at Scale"): if the first attempt has not answered after `delayMs`,
 * start another one concurrently; the first success wins and the others are cancelled through
 * their signals (reason: `CancelledError`). Only for idempotent calls. A failure settles the
 * call only when no other attempt is running or pending; a first attempt that fails before the
 * hedge delay fails the call (retrying is the retry policy's job).
 */
export class Hedge extends BasePolicy {
  readonly kind = 'hedge' as const;
  readonly delayMs: number;
  readonly maxHedges: number;
  readonly budget: RetryBudget | undefined;
  private readonly idempotent: boolean;
  /** Pending hedge delays: one timer for all calls instead of one per call. */
  readonly timers: DeadlineList<HedgedCall>;
  private calls = 0;
  private hedges = 0;
  private hedgeWins = 0;

  constructor(options: HedgeOptions) {
    super('hedge', options);
    this.delayMs = checkMin('Hedge', 'delayMs', options?.delayMs, 0);
    this.maxHedges = checkInt('Hedge', 'maxHedges', options.maxHedges ?? 1, 1);
    this.idempotent = options.idempotent ?? true;
    this.budget = options.budget;
    this.timers = new DeadlineList<HedgedCall>(this.clock, (call) => call.fire());
  }

  snapshot(): HedgeSnapshot {
    return {
      kind: 'hedge',
      name: this.name,
      delayMs: this.delayMs,
      calls: this.calls,
      hedges: this.hedges,
      hedgeWins: this.hedgeWins,
    };
  }

  [STAGE](): StageDescriptor {
    return {
      type: 'around',
      clock: this.clock,
      around: (inner) => (parent) =>
        new Promise((resolve, reject) => {
          new HedgedCall(this, inner, parent, resolve, reject).start();
        }),
    };
  }

  /** @internal */
  mayHedge(parent: CallContext, launched: number, now: number): boolean {
    if (launched > this.maxHedges || !(parent.idempotent ?? this.idempotent)) return false;
    if (now + this.delayMs >= parent.dl) return false;
    return true;
  }

  /** @internal */
  record(event: 'call' | 'hedge' | 'hedge-win', attempt = 0): void {
    if (event === 'call') this.calls++;
    else if (event === 'hedge-win') this.hedgeWins++;
    else {
      this.hedges++;
      if (this.events.active) {
        this.events.emit({
          type: 'hedged',
          policy: this.name,
          kind: 'hedge',
          at: this.clock.now(),
          attempt,
          delayMs: this.delayMs,
        });
      }
    }
  }
}

class HedgedCall implements CancelListener, TimedNode {
  private readonly attempts: CallContext[] = [];
  private running = 0;
  private settled = false;
  at = 0;
  prev: TimedNode | undefined = undefined;
  next: TimedNode | undefined = undefined;
  listed = false;

  constructor(
    private readonly hedge: Hedge,
    private readonly inner: Runner,
    private readonly parent: CallContext,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  start(): void {
    this.hedge.record('call');
    if (this.parent.cancellable) this.parent.listen(this);
    this.launch();
  }

  private launch(): void {
    const index = this.attempts.length;
    const ctx = this.parent.child(this.parent.attempt + index, this.parent.dl);
    this.attempts.push(ctx);
    this.running++;
    this.inner(ctx).then(
      (value) => this.won(index, value),
      (error: unknown) => this.lost(error),
    );
    this.schedule();
  }

  private schedule(): void {
    const now = this.hedge.clock.now();
    if (this.hedge.mayHedge(this.parent, this.attempts.length, now))
      this.hedge.timers.insert(this, now + this.hedge.delayMs);
  }

  /** The hedge delay passed without an answer. */
  fire(): void {
    if (this.settled) return;
    const budget = this.hedge.budget;
    if (budget !== undefined && !budget.tryWithdraw(this.hedge.clock.now())) return;
    this.hedge.record('hedge', this.attempts.length + this.parent.attempt);
    this.launch();
  }

  private won(index: number, value: unknown): void {
    if (this.settled) return;
    if (index > 0) this.hedge.record('hedge-win');
    this.running--;
    // An Error captures a stack trace: make the abort reason only when someone is left to abort.
    this.settle(
      this.running > 0 ? new CancelledError('another hedged attempt answered first') : undefined,
      index,
    );
    this.resolve(value);
  }

  private lost(error: unknown): void {
    this.running--;
    if (this.settled || this.running > 0) return;
    this.settle(undefined, -1);
    this.reject(error);
  }

  onCancel(reason: unknown): void {
    if (this.settled) return;
    this.settle(reason, -1);
    this.reject(reason);
  }

  /** Ends the race: no more hedges, and every attempt but `keep` still running is cancelled. */
  private settle(reason: unknown, keep: number): void {
    this.settled = true;
    this.hedge.timers.remove(this);
    this.parent.unlisten(this);
    if (this.running === 0) return;
    this.attempts.forEach((ctx, i) => {
      if (i !== keep) ctx.cancel(reason);
    });
  }
}

/** Hedged requests: another attempt after `delayMs` without an answer. */
export function hedge(options: HedgeOptions): Hedge {
  return new Hedge(options);
}
