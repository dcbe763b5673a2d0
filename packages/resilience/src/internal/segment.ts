import type { Clock, TimerHandle } from '@flotilla/core';
import { deadlineContext, runUnderDeadline } from '../deadline.js';
import { type DeadlineExceededError, timedOut } from '../errors.js';
import { type CallContext, type CancelListener, type ExpiryOwner, NONE } from './context.js';
import { DeadlineList } from './deadline-list.js';
import {
  ABANDONED,
  FAILURE,
  type Gate,
  type Outcome,
  type RetryStage,
  type Runner,
  SUCCESS,
  type TimeoutStage,
  WAIT,
} from './stage.js';

const IDLE = 0;
const ADMITTING = 1;
const RUNNING = 2;
const BACKOFF = 3;
const DONE = 4;

const INFINITY = Number.POSITIVE_INFINITY;

function callWork(ctx: CallContext): unknown {
  return ctx.fn(ctx);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The error of an attempt that ran out of time: its timeout's when `own`, else the caller's deadline's. */
function deadlineError(
  timeout: TimeoutStage | undefined,
  own: boolean,
  deadline: number,
): DeadlineExceededError {
  return timedOut(deadline, own ? timeout : undefined);
}

/**
 * A fused run of `[retry] gate* [timeout]`: one state machine per call instead of one promise
 * layer per policy. Its behaviour is the nesting `retry(gate1(gate2(...timeout(inner))))`:
 * every attempt passes the gates outer to inner, runs under min(caller deadline, timeout),
 * and releases the gates inner to outer with the outcome.
 */
export class Segment {
  readonly timers: DeadlineList<CallContext>;
  readonly run: Runner;
  /** Calls that may run longer than this need an exact end time (see `Gate.durationThreshold`). */
  readonly durationThreshold: number;
  /** Whether the start of a call must be read from the clock even without a deadline. */
  private readonly needsStart: boolean;
  /** Whether calls without deadline or cancellation may take the async fast path. */
  private readonly fastPath: boolean;

  constructor(
    readonly retry: RetryStage | undefined,
    readonly gates: readonly Gate[],
    readonly timeout: TimeoutStage | undefined,
    /** The rest of the pipeline; undefined when this segment calls the work itself. */
    readonly inner: Runner | undefined,
    readonly clock: Clock,
  ) {
    this.timers = new DeadlineList<CallContext>(clock, (ctx) => ctx.owner?.expire(ctx));
    this.durationThreshold = Math.min(...gates.map((g) => g.durationThreshold));
    this.needsStart =
      retry !== undefined || this.durationThreshold !== INFINITY || gates.some((g) => g.needsClock);
    this.fastPath = timeout === undefined && gates.length <= 4 && gates.every((g) => g.synchronous);
    this.run = (parent) =>
      this.fastPath && parent.dl === INFINITY && !parent.cancellable
        ? this.fast(parent, 1, 0)
        : new Promise((resolve, reject) => {
            new Execution(this, parent, resolve, reject).start();
          });
  }

  /**
   * Continues a fast-path call (no deadline, no cancellation) after its attempt `attempt` failed
   * with `error` at `now`: retries as the retry stage decides, or rejects with `error`. Lets a
   * policy run its first attempt on its own (see `Retry.execute`) and hand over only on failure.
   * Never throws: a throwing predicate rejects the returned promise, as in `fast`.
   */
  retryAfter(parent: CallContext, attempt: number, error: unknown, now: number): Promise<unknown> {
    const retry = this.retry;
    if (retry === undefined) return Promise.reject(error);
    let delay: number;
    try {
      delay = retry.decide(parent, parent.attempt + attempt - 1, error, now);
    } catch (thrown) {
      return Promise.reject(thrown);
    }
    if (delay < 0) return Promise.reject(error);
    if (delay > 0) {
      return new Promise((resolve, reject) => {
        new Execution(this, parent, resolve, reject).resume(attempt, delay);
      });
    }
    return this.fast(parent, attempt + 1, now);
  }

  /**
   * The same semantics as `Execution` for the common case with nothing to race: no deadline,
   * no caller that can cancel, no gate that waits. One async frame instead of a hand-made
   * promise, and no clock read that no policy needs.
   */
  private async fast(parent: CallContext, first: number, resumedAt: number): Promise<unknown> {
    const { clock, gates, retry, inner } = this;
    const n = gates.length;
    let now = resumedAt;
    if (first === 1) {
      now = this.needsStart ? clock.now() : 0;
      retry?.onCall(now);
    }
    for (let attempt = first; ; attempt++) {
      let t0 = 0;
      let t1 = 0;
      let t2 = 0;
      let t3 = 0;
      let admitted = 0;
      let error: unknown;
      let failed = false;
      try {
        if (n > 0) t0 = gates[0]!.tryAdmit(parent, now);
        admitted = 1;
        if (n > 1) t1 = gates[1]!.tryAdmit(parent, now);
        admitted = 2;
        if (n > 2) t2 = gates[2]!.tryAdmit(parent, now);
        admitted = 3;
        if (n > 3) t3 = gates[3]!.tryAdmit(parent, now);
        admitted = 4;
      } catch (rejection) {
        error = rejection;
        failed = true;
      }
      if (!failed) {
        // Attempt 1 runs with the caller's own context; a retry gets a fresh one.
        const ctx = attempt === 1 ? parent : parent.child(parent.attempt + attempt - 1, INFINITY);
        try {
          const value = await (inner !== undefined ? inner(ctx) : ctx.fn(ctx));
          if (n > 0) {
            const end = this.durationThreshold !== INFINITY ? clock.now() : now;
            if (n > 3) gates[3]!.release(t3, now, end, SUCCESS, undefined);
            if (n > 2) gates[2]!.release(t2, now, end, SUCCESS, undefined);
            if (n > 1) gates[1]!.release(t1, now, end, SUCCESS, undefined);
            gates[0]!.release(t0, now, end, SUCCESS, undefined);
          }
          return value;
        } catch (e) {
          error = e;
        }
        const end = clock.now();
        if (n > 3) gates[3]!.release(t3, now, end, FAILURE, error);
        if (n > 2) gates[2]!.release(t2, now, end, FAILURE, error);
        if (n > 1) gates[1]!.release(t1, now, end, FAILURE, error);
        if (n > 0) gates[0]!.release(t0, now, end, FAILURE, error);
        now = end;
      } else {
        // A gate refused: the ones before it hand their admissions back.
        if (admitted > 2) gates[2]!.release(t2, now, now, ABANDONED, undefined);
        if (admitted > 1) gates[1]!.release(t1, now, now, ABANDONED, undefined);
        if (admitted > 0) gates[0]!.release(t0, now, now, ABANDONED, undefined);
      }
      if (retry === undefined) throw error;
      const delay = retry.decide(parent, parent.attempt + attempt - 1, error, now);
      if (delay < 0) throw error;
      if (delay > 0) {
        // Waiting is the slow path: the state machine takes over from here.
        return new Promise((resolve, reject) => {
          new Execution(this, parent, resolve, reject).resume(attempt, delay);
        });
      }
    }
  }
}

/** One call through a segment. */
class Execution implements CancelListener, ExpiryOwner {
  private phase = IDLE;
  private attempts = 0;
  /** How many gates the current attempt holds. */
  private admitted = 0;
  // Admission tokens: four fields cover every realistic pipeline without an array per call.
  private t0 = 0;
  private t1 = 0;
  private t2 = 0;
  private t3 = 0;
  private more: number[] | undefined = undefined;
  private current: CallContext | undefined = undefined;
  /** Whether the current attempt's deadline is the timeout policy's (not the caller's). */
  private own = false;
  private startedAt = 0;
  private timer: TimerHandle | undefined = undefined;
  private listening = false;

  constructor(
    private readonly seg: Segment,
    private readonly parent: CallContext,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (error: unknown) => void,
  ) {}

  private setToken(i: number, token: number): void {
    if (i === 0) this.t0 = token;
    else if (i === 1) this.t1 = token;
    else if (i === 2) this.t2 = token;
    else if (i === 3) this.t3 = token;
    else {
      this.more ??= [];
      this.more[i - 4] = token;
    }
  }

  private token(i: number): number {
    return i === 0 ? this.t0 : i === 1 ? this.t1 : i === 2 ? this.t2 : i === 3 ? this.t3 : this.more![i - 4]!;
  }

  start(): void {
    const parent = this.parent;
    const now = this.seg.clock.now();
    const reason = parent.cancelReason();
    if (reason !== NONE) {
      this.finish(reason, true);
      return;
    }
    if (parent.dl <= now) {
      this.seg.timeout?.timedOut(parent.dl, false, now);
      this.finish(deadlineError(undefined, false, parent.dl), true);
      return;
    }
    if (parent.cancellable) {
      parent.listen(this);
      this.listening = true;
    }
    this.seg.retry?.onCall(now);
    this.attempt(now);
  }

  private attempt(now: number): void {
    this.attempts++;
    this.admitted = 0;
    this.admitFrom(0, now);
  }

  private admitFrom(first: number, now: number): void {
    const gates = this.seg.gates;
    for (let i = first; i < gates.length; i++) {
      let token: number;
      try {
        token = gates[i]!.tryAdmit(this.parent, now);
      } catch (error) {
        this.releaseGates(now, now, ABANDONED, undefined);
        this.failed(error, now);
        return;
      }
      if (token === WAIT) {
        this.phase = ADMITTING;
        this.admitLater(i, now);
        return;
      }
      this.setToken(i, token);
      this.admitted = i + 1;
    }
    this.invoke(now);
  }

  private admitLater(index: number, now: number): void {
    const gate = this.seg.gates[index]!;
    gate.admitAsync(this.parent, now).then(
      (token) => {
        if (this.phase !== ADMITTING) {
          // The call was cancelled while it waited; hand the admission straight back.
          gate.release(token, now, now, ABANDONED, undefined);
          return;
        }
        this.setToken(index, token);
        this.admitted = index + 1;
        this.admitFrom(index + 1, this.seg.clock.now());
      },
      (error: unknown) => {
        if (this.phase !== ADMITTING) return;
        const t = this.seg.clock.now();
        this.releaseGates(t, t, ABANDONED, undefined);
        this.failed(error, t);
      },
    );
  }

  private invoke(now: number): void {
    const seg = this.seg;
    const parent = this.parent;
    let dl = parent.dl;
    let own = false;
    const timeout = seg.timeout;
    if (timeout !== undefined) {
      const t = now + timeout.ms;
      if (t < dl) {
        dl = t;
        own = true;
      }
    }
    this.startedAt = now;
    if (dl <= now) {
      // Admission (a queue, a rate limiter's wait) used up the time: the work never starts.
      timeout?.timedOut(dl, own, now);
      this.releaseGates(now, now, ABANDONED, undefined);
      this.failed(deadlineError(timeout, own, dl), now);
      return;
    }
    const ctx = parent.child(parent.attempt + this.attempts - 1, dl);
    ctx.owner = this;
    this.current = ctx;
    this.own = own;
    this.phase = RUNNING;
    if (dl !== INFINITY) seg.timers.insert(ctx, dl);
    let result: unknown;
    try {
      if (seg.inner !== undefined) result = seg.inner(ctx);
      else if (deadlineContext.enabled && dl !== INFINITY) result = runUnderDeadline(dl, callWork, ctx);
      else result = ctx.fn(ctx);
    } catch (error) {
      this.settle(ctx, error, true);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.settle(ctx, value, false),
        (error: unknown) => this.settle(ctx, error, true),
      );
    } else {
      this.settle(ctx, result, false);
    }
  }

  private settle(ctx: CallContext, value: unknown, isError: boolean): void {
    if (ctx.done) return; // expired or cancelled: the late outcome is dropped
    ctx.finish();
    if (ctx.listed) this.seg.timers.remove(ctx);
    this.current = undefined;
    if (!isError) {
      if (this.admitted !== 0) {
        const start = this.startedAt;
        const end = ctx.dl - start > this.seg.durationThreshold ? this.seg.clock.now() : start;
        this.releaseGates(start, end, SUCCESS, undefined);
      }
      this.finish(value, false);
      return;
    }
    const end = this.seg.clock.now();
    this.releaseGates(this.startedAt, end, FAILURE, value);
    this.failed(value, end);
  }

  /** Called by the deadline list when the current attempt's deadline passes. */
  expire(ctx: CallContext): void {
    if (ctx !== this.current || ctx.done) return;
    ctx.finish();
    this.current = undefined;
    const now = this.seg.clock.now();
    const error = deadlineError(this.seg.timeout, this.own, ctx.dl);
    this.seg.timeout?.timedOut(ctx.dl, this.own, now);
    ctx.cancel(error);
    this.releaseGates(this.startedAt, now, FAILURE, error);
    this.failed(error, now);
  }

  onCancel(reason: unknown): void {
    if (this.phase === DONE) return;
    const now = this.seg.clock.now();
    const ctx = this.current;
    if (this.phase === RUNNING && ctx !== undefined) {
      this.current = undefined;
      ctx.finish();
      this.seg.timers.remove(ctx);
      ctx.cancel(reason);
      this.releaseGates(this.startedAt, now, ABANDONED, reason);
    } else if (this.phase === BACKOFF && this.timer !== undefined) {
      this.seg.clock.clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.phase === ADMITTING) {
      this.releaseGates(now, now, ABANDONED, undefined);
    }
    this.finish(reason, true);
  }

  private failed(error: unknown, now: number): void {
    this.phase = IDLE;
    const retry = this.seg.retry;
    if (retry !== undefined && this.parent.cancelReason() === NONE) {
      const delay = retry.decide(this.parent, this.parent.attempt + this.attempts - 1, error, now);
      if (delay === 0) {
        this.attempt(now);
        return;
      }
      if (delay > 0) {
        this.backoff(delay);
        return;
      }
    }
    this.finish(error, true);
  }

  /** Continues a call that already made `attempts` attempts, after `delay` ms (from the fast path). */
  resume(attempts: number, delay: number): void {
    this.attempts = attempts;
    if (this.parent.cancellable) {
      this.parent.listen(this);
      this.listening = true;
    }
    this.backoff(delay);
  }

  private backoff(delay: number): void {
    this.phase = BACKOFF;
    this.timer = this.seg.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.phase === BACKOFF) this.attempt(this.seg.clock.now());
    }, delay);
  }

  private releaseGates(start: number, end: number, outcome: Outcome, error: unknown): void {
    const gates = this.seg.gates;
    for (let i = this.admitted - 1; i >= 0; i--) gates[i]!.release(this.token(i), start, end, outcome, error);
    this.admitted = 0;
  }

  private finish(value: unknown, isError: boolean): void {
    if (this.phase === DONE) return;
    this.phase = DONE;
    if (this.listening) {
      this.listening = false;
      this.parent.unlisten(this);
    }
    if (isError) this.reject(value);
    else this.resolve(value);
  }
}
