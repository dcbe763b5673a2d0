import { CancelledError } from './errors.js';
import type { CallContext, CancelListener } from './internal/context.js';
import { DeadlineList, type TimedNode } from './internal/deadline-list.js';
import { LatencyWindow } from './internal/latency-window.js';
import { type Runner, STAGE, type StageDescriptor } from './internal/stage.js';
import { checkInt, checkMin, checkRange, invalid } from './internal/validate.js';
import { BasePolicy, type PolicyOptions } from './policy.js';
import type { RetryBudget } from './retry-budget.js';

/** A hedge delay that follows the measured latency of recent successful attempts. */
export interface LatencyDelayOptions {
  /** Hedge after this percentile of recent successful attempts' latency, in (0, 100]; e.g. 95. */
  percentile: number;
  /** Lower bound of the delay. Default 0. */
  minMs?: number;
  /** Upper bound of the delay. Default: none. */
  maxMs?: number;
  /** Successful attempts the percentile is taken over (the most recent ones). Default 100. */
  window?: number;
  /** Samples needed before the percentile is trusted. Default min(20, window). */
  minSamples?: number;
  /** Delay until then. Default `minMs`. */
  initialMs?: number;
}

export interface HedgeOptions extends PolicyOptions {
  /** Start another attempt when none has answered after this long (or give `delay`). */
  delayMs?: number;
  /** Start another attempt after a percentile of the measured latency instead of a fixed delay. */
  delay?: LatencyDelayOptions;
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
  readonly maxHedges: number;
  readonly budget: RetryBudget | undefined;
  private readonly idempotent: boolean;
  private readonly fixedDelayMs: number;
  /** Latency of recent successful attempts; only with a percentile delay. */
  readonly latency: LatencyWindow | undefined;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly minSamples: number;
  /** Pending hedge delays: one timer for all calls instead of one per call. */
  readonly timers: DeadlineList<HedgedCall>;
  private calls = 0;
  private hedges = 0;
  private hedgeWins = 0;

  constructor(options: HedgeOptions) {
    super('hedge', options);
    const d = options?.delay;
    if (d === undefined) {
      this.fixedDelayMs = checkMin('Hedge', 'delayMs', options?.delayMs as number, 0);
      this.latency = undefined;
      this.minMs = this.maxMs = this.fixedDelayMs;
      this.minSamples = 0;
    } else {
      if (options.delayMs !== undefined)
        invalid('Hedge', 'delayMs', 'left out when a percentile delay is given', options.delayMs);
      if (typeof d !== 'object' || d === null) invalid('Hedge', 'delay', 'an object', d);
      const percentile = checkRange('Hedge', 'delay.percentile', d.percentile, 0, 100, true);
      this.minMs = checkMin('Hedge', 'delay.minMs', d.minMs ?? 0, 0);
      this.maxMs = checkMin('Hedge', 'delay.maxMs', d.maxMs ?? Number.POSITIVE_INFINITY, this.minMs, true);
      const window = checkInt('Hedge', 'delay.window', d.window ?? 100, 1);
      if (window > 100_000) invalid('Hedge', 'delay.window', 'at most 100000', window);
      this.minSamples = checkRange(
        'Hedge',
        'delay.minSamples',
        d.minSamples ?? Math.min(20, window),
        1,
        window,
      );
      checkInt('Hedge', 'delay.minSamples', this.minSamples, 1);
      this.fixedDelayMs = checkRange(
        'Hedge',
        'delay.initialMs',
        d.initialMs ?? this.minMs,
        this.minMs,
        this.maxMs,
      );
      this.latency = new LatencyWindow(window, percentile);
    }
    this.maxHedges = checkInt('Hedge', 'maxHedges', options.maxHedges ?? 1, 1);
    this.idempotent = options.idempotent ?? true;
    this.budget = options.budget;
    this.timers = new DeadlineList<HedgedCall>(this.clock, (call) => call.fire());
  }

  /** The delay after which a call is hedged now: fixed, or the measured percentile within bounds. */
  get delayMs(): number {
    const latency = this.latency;
    if (latency === undefined || latency.count < this.minSamples) return this.fixedDelayMs;
    const p = latency.value();
    return Math.min(Math.max(p, this.minMs), this.maxMs);
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
  mayHedge(parent: CallContext, launched: number, at: number): boolean {
    if (launched > this.maxHedges || !(parent.idempotent ?? this.idempotent)) return false;
    return at < parent.dl;
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
  private startedAt: number[] | undefined = undefined;
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
    const now = this.hedge.clock.now();
    // Start times are kept only when the delay is measured: a fixed delay costs nothing more.
    if (this.hedge.latency !== undefined) {
      this.startedAt ??= [];
      this.startedAt.push(now);
    }
    this.inner(ctx).then(
      (value) => this.won(index, value),
      (error: unknown) => this.lost(error),
    );
    const at = now + this.hedge.delayMs;
    if (this.hedge.mayHedge(this.parent, this.attempts.length, at)) this.hedge.timers.insert(this, at);
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
    // Only winners are measured: a cancelled loser's latency is unknown, not long.
    if (this.startedAt !== undefined)
      this.hedge.latency!.add(this.hedge.clock.now() - this.startedAt[index]!);
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

/** Hedged requests: another attempt after `delayMs` (or a latency percentile) without an answer. */
export function hedge(options: HedgeOptions): Hedge {
  return new Hedge(options);
}
