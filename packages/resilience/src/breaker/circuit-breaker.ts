import { isAbortError, isFailure, isRejection } from '../classify.js';
import { BrokenCircuitError } from '../errors.js';
import type { CircuitState } from '../events.js';
import type { CallContext, SoloContext } from '../internal/context.js';
import {
  ABANDONED,
  FAILURE,
  type Gate,
  type Outcome,
  STAGE,
  type StageDescriptor,
  SUCCESS,
} from '../internal/stage.js';
import { checkFunction, checkInt, checkMin, checkOneOf, checkRange } from '../internal/validate.js';
import {
  BasePolicy,
  type ExecuteOptions,
  type ExecutionContext,
  type PolicyOptions,
  soloCall,
  type Work,
} from '../policy.js';
import { CountWindow } from './count-window.js';
import type { SlidingWindow } from './sliding-window.js';
import { TimeWindow } from './time-window.js';

export interface CircuitBreakerOptions extends PolicyOptions {
  /** Failure rate (percent) at or above which the breaker opens. Default 50. */
  failureRateThreshold?: number;
  /** Slow-call rate (percent) at or above which the breaker opens. Default 100. */
  slowCallRateThreshold?: number;
  /** A call that takes longer than this is slow. Default 60 000 ms; `Infinity` turns slow-call detection off. */
  slowCallDurationThresholdMs?: number;
  /** `COUNT_BASED`: the last N calls; `TIME_BASED`: the calls of the last N seconds. Default count. */
  slidingWindowType?: 'COUNT_BASED' | 'TIME_BASED';
  /** N of the sliding window (calls or seconds). Default 100. */
  slidingWindowSize?: number;
  /** Calls the window must hold before the rates are evaluated. Default 100. */
  minimumNumberOfCalls?: number;
  /** How long the breaker stays OPEN before it lets trial calls through. Default 5 000 ms. */
  waitDurationInOpenStateMs?: number;
  /** Trial calls permitted in HALF_OPEN; their outcome decides CLOSED or OPEN. Default 10. */
  permittedNumberOfCallsInHalfOpenState?: number;
  /** Which errors count as failures. Default: connection errors, timeouts, 5xx, errors without status. */
  isFailure?: (error: unknown) => boolean;
  /** Errors that count neither way. Default: the policies' own rejections and caller aborts. */
  ignore?: (error: unknown) => boolean;
}

export interface CircuitBreakerSnapshot {
  kind: 'circuit-breaker';
  name: string;
  state: CircuitState;
  /** Failure rate of the window in percent, or -1 while it holds fewer than the minimum calls. */
  failureRate: number;
  /** Slow-call rate of the window in percent, or -1 while it holds fewer than the minimum calls. */
  slowCallRate: number;
  bufferedCalls: number;
  bufferedFailedCalls: number;
  bufferedSlowCalls: number;
  /** Milliseconds until an OPEN breaker lets trial calls through (0 otherwise). */
  remainingOpenMs: number;
  /** Cumulative counters since creation. */
  successfulCalls: number;
  failedCalls: number;
  slowCalls: number;
  ignoredCalls: number;
  notPermittedCalls: number;
  transitions: number;
}

/** Defaults; see the README for whose they are and why. */
export const CIRCUIT_BREAKER_DEFAULTS = {
  failureRateThreshold: 50,
  slowCallRateThreshold: 100,
  slowCallDurationThresholdMs: 60_000,
  slidingWindowType: 'COUNT_BASED',
  slidingWindowSize: 100,
  minimumNumberOfCalls: 100,
  waitDurationInOpenStateMs: 5_000,
  permittedNumberOfCallsInHalfOpenState: 10,
} as const;

const STATES: readonly CircuitState[] = ['CLOSED', 'OPEN', 'HALF_OPEN', 'FORCED_OPEN', 'DISABLED'];
const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
const FORCED_OPEN = 3;
const DISABLED = 4;

function defaultIgnore(error: unknown): boolean {
  return isRejection(error) || isAbortError(error);
}

/**
 * Circuit breaker with resilience4j's state machine: CLOSED records outcomes in a sliding
 * window and opens when the failure rate or the slow-call rate reaches its threshold (once the
 * window holds the minimum number of calls); OPEN refuses calls with `BrokenCircuitError` until
 * the wait elapses; HALF_OPEN lets N trial calls through and closes or re-opens on their rates.
 * FORCED_OPEN and DISABLED are manual states that record nothing.
 *
 * Admission returns a token that carries the state generation, so an outcome that arrives after
 * the breaker changed state is not credited to the new state.
 */
export class CircuitBreaker extends BasePolicy implements Gate {
  readonly kind = 'circuit-breaker' as const;
  private readonly failureRateThreshold: number;
  private readonly slowCallRateThreshold: number;
  private readonly slowMs: number;
  private readonly minimumCalls: number;
  private readonly waitMs: number;
  private readonly permitted: number;
  private readonly window: SlidingWindow;
  readonly durationThreshold: number;
  readonly needsClock = true;
  readonly synchronous = true;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly ignore: (error: unknown) => boolean;

  private st = CLOSED;
  /** Generation: bumped on every transition; admissions of an older generation are not recorded. */
  private gen = 1;
  private openedAt = 0;
  private permits = 0;
  private trialCalls = 0;
  private trialFailures = 0;
  private trialSlow = 0;

  private successful = 0;
  private failed = 0;
  private slow = 0;
  private ignored = 0;
  private notPermitted = 0;
  private transitions = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    super('circuit-breaker', options);
    const d = CIRCUIT_BREAKER_DEFAULTS;
    const o = 'CircuitBreaker';
    this.failureRateThreshold = checkRange(
      o,
      'failureRateThreshold',
      options.failureRateThreshold ?? d.failureRateThreshold,
      0,
      100,
      true,
    );
    this.slowCallRateThreshold = checkRange(
      o,
      'slowCallRateThreshold',
      options.slowCallRateThreshold ?? d.slowCallRateThreshold,
      0,
      100,
      true,
    );
    this.slowMs = checkMin(
      o,
      'slowCallDurationThresholdMs',
      options.slowCallDurationThresholdMs ?? d.slowCallDurationThresholdMs,
      1,
      true,
    );
    const type = checkOneOf(o, 'slidingWindowType', options.slidingWindowType ?? d.slidingWindowType, [
      'COUNT_BASED',
      'TIME_BASED',
    ]);
    const size = checkInt(o, 'slidingWindowSize', options.slidingWindowSize ?? d.slidingWindowSize, 1);
    const minimum = checkInt(
      o,
      'minimumNumberOfCalls',
      options.minimumNumberOfCalls ?? d.minimumNumberOfCalls,
      1,
    );
    this.waitMs = checkMin(
      o,
      'waitDurationInOpenStateMs',
      options.waitDurationInOpenStateMs ?? d.waitDurationInOpenStateMs,
      0,
    );
    this.permitted = checkInt(
      o,
      'permittedNumberOfCallsInHalfOpenState',
      options.permittedNumberOfCallsInHalfOpenState ?? d.permittedNumberOfCallsInHalfOpenState,
      1,
    );
    if (options.isFailure !== undefined) checkFunction(o, 'isFailure', options.isFailure);
    if (options.ignore !== undefined) checkFunction(o, 'ignore', options.ignore);
    this.isFailure = options.isFailure ?? isFailure;
    this.ignore = options.ignore ?? defaultIgnore;
    this.window = type === 'COUNT_BASED' ? new CountWindow(size) : new TimeWindow(size * 1000);
    // As in resilience4j, a count window smaller than the minimum could never trip otherwise.
    // A count window needs durations only to spot slow calls (so, without slow-call detection, a
    // successful call needs no end time); a time window needs the end time of every call.
    this.durationThreshold = type === 'COUNT_BASED' ? this.slowMs : 0;
    this.minimumCalls = type === 'COUNT_BASED' ? Math.min(minimum, size) : minimum;
  }

  /** Current state (an OPEN breaker whose wait elapsed reports HALF_OPEN). */
  get state(): CircuitState {
    this.refresh(this.clock.now());
    return STATES[this.st]!;
  }

  override execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
    // Alone, without deadline or cancellation: the engine's fast path inlined for one breaker,
    // so the call costs one promise reaction instead of an async frame plus megamorphic calls,
    // and the work gets a two-field context instead of a `CallContext`.
    // The clock is read at the start and, when the window needs it, at the end: with no
    // deadline to bound the call, only the end time can tell a slow call. Those two reads are
    // most of what is left of the breaker's own cost; a cached or coarse clock would make them
    // cheaper but would miss slow synchronous work and drift from `clock`, so they stay exact.
    const ctx = soloCall(fn, options);
    if (ctx === undefined) return super.execute(fn, options);
    const clock = this.clock;
    const start = clock.now();
    let token: number;
    try {
      token = this.tryAdmit(ctx, start);
    } catch (rejection) {
      return Promise.reject(rejection);
    }
    let result: PromiseLike<T> | T;
    try {
      result = fn(ctx);
    } catch (error) {
      try {
        this.release(token, start, clock.now(), FAILURE, error);
      } catch (thrown) {
        return Promise.reject(thrown);
      }
      return Promise.reject(error);
    }
    return Promise.resolve(result).then(
      (value) => {
        const end = this.durationThreshold !== Number.POSITIVE_INFINITY ? clock.now() : start;
        this.release(token, start, end, SUCCESS, undefined);
        return value;
      },
      (error: unknown) => {
        this.release(token, start, clock.now(), FAILURE, error);
        throw error;
      },
    );
  }

  /**
   * For a caller that runs its calls itself, by callbacks rather than `execute` (the gateway's
   * fast path; resilience4j's `acquirePermission`): admits one call at `now` (ms on the breaker's
   * clock) and returns its permit, or throws the breaker's rejection (`BrokenCircuitError`).
   * Every permit goes back once: {@link onSuccess}, {@link onError} or {@link releasePermission}.
   */
  acquirePermission(now: number = this.clock.now()): number {
    return this.tryAdmit(undefined, now);
  }

  /** The call of `permit` ran from `start` to `end` and succeeded (a slow one counts as slow). */
  onSuccess(permit: number, start: number, end: number): void {
    this.release(permit, start, end, SUCCESS, undefined);
  }

  /**
   * The call of `permit` ran from `start` to `end` and failed with `error`, which the breaker
   * classifies (`isFailure`, `ignore`) as it does in `execute`.
   */
  onError(permit: number, start: number, end: number, error: unknown): void {
    this.release(permit, start, end, FAILURE, error);
  }

  /** The call of `permit` never ran (a later policy refused it): nothing is recorded. */
  releasePermission(permit: number): void {
    this.release(permit, 0, 0, ABANDONED, undefined);
  }

  // Also the fast path's admission, with its `SoloContext`, and `acquirePermission`'s: one
  // method, since a helper shared by both measurably slowed the engine's (megamorphic) gate calls.
  tryAdmit(_ctx: CallContext | SoloContext | undefined, now: number): number {
    switch (this.st) {
      case CLOSED:
        return this.gen * 2;
      case DISABLED:
        return 0;
      case OPEN:
        if (now - this.openedAt < this.waitMs) return this.reject('open', now);
        this.transition(HALF_OPEN, now);
        return this.trialPermit(now);
      case HALF_OPEN:
        return this.trialPermit(now);
      default:
        return this.reject('forced-open', now);
    }
  }

  admitAsync(): Promise<number> {
    return Promise.reject(new Error('CircuitBreaker admits synchronously'));
  }

  release(token: number, start: number, end: number, outcome: Outcome, error: unknown): void {
    if (token === 0) return;
    const trial = (token & 1) === 1;
    if ((token - (token & 1)) / 2 !== this.gen) return;
    if (outcome === ABANDONED || (outcome === FAILURE && this.ignore(error))) {
      this.ignored++;
      if (trial) this.permits++;
      return;
    }
    const failed = outcome === FAILURE && this.isFailure(error);
    const slow = end - start > this.slowMs;
    if (failed) this.failed++;
    else this.successful++;
    if (slow) this.slow++;
    if (trial) {
      this.trialCalls++;
      if (failed) this.trialFailures++;
      if (slow) this.trialSlow++;
      if (this.trialCalls >= this.permitted) {
        const trip = this.exceeds(this.trialFailures, this.trialSlow, this.trialCalls);
        this.transition(trip ? OPEN : CLOSED, end);
      }
      return;
    }
    const w = this.window;
    w.record(end, failed, slow);
    if (w.calls >= this.minimumCalls && this.exceeds(w.failures, w.slowCalls, w.calls))
      this.transition(OPEN, end);
  }

  /** Moves to CLOSED and clears the window. */
  transitionToClosedState(): void {
    this.transition(CLOSED, this.clock.now());
  }

  /** Moves to OPEN, as if the thresholds had been reached. */
  transitionToOpenState(): void {
    this.transition(OPEN, this.clock.now());
  }

  /** Holds the breaker open until another manual transition. */
  transitionToForcedOpenState(): void {
    this.transition(FORCED_OPEN, this.clock.now());
  }

  /** Lets every call through and records nothing until another manual transition. */
  transitionToDisabledState(): void {
    this.transition(DISABLED, this.clock.now());
  }

  /** Back to CLOSED with an empty window (counters are kept). */
  reset(): void {
    this.transition(CLOSED, this.clock.now(), true);
  }

  snapshot(): CircuitBreakerSnapshot {
    const now = this.clock.now();
    this.refresh(now);
    const w = this.window;
    w.advance(now);
    const evaluated = w.calls >= this.minimumCalls;
    return {
      kind: 'circuit-breaker',
      name: this.name,
      state: STATES[this.st]!,
      failureRate: evaluated ? (w.failures * 100) / w.calls : -1,
      slowCallRate: evaluated ? (w.slowCalls * 100) / w.calls : -1,
      bufferedCalls: w.calls,
      bufferedFailedCalls: w.failures,
      bufferedSlowCalls: w.slowCalls,
      remainingOpenMs: this.st === OPEN ? Math.max(0, this.openedAt + this.waitMs - now) : 0,
      successfulCalls: this.successful,
      failedCalls: this.failed,
      slowCalls: this.slow,
      ignoredCalls: this.ignored,
      notPermittedCalls: this.notPermitted,
      transitions: this.transitions,
    };
  }

  [STAGE](): StageDescriptor {
    return { type: 'gate', gate: this, clock: this.clock };
  }

  private exceeds(failures: number, slow: number, calls: number): boolean {
    return (
      failures * 100 >= this.failureRateThreshold * calls || slow * 100 >= this.slowCallRateThreshold * calls
    );
  }

  private trialPermit(now: number): number {
    if (this.permits === 0) return this.reject('half-open-full', now);
    this.permits--;
    return this.gen * 2 + 1;
  }

  /** OPEN moves to HALF_OPEN lazily, when someone asks after the wait (resilience4j's default). */
  private refresh(now: number): void {
    if (this.st === OPEN && now - this.openedAt >= this.waitMs) this.transition(HALF_OPEN, now);
  }

  private reject(reason: string, now: number): never {
    this.notPermitted++;
    const state = STATES[this.st]!;
    const retryAfterMs = this.st === OPEN ? Math.max(0, this.openedAt + this.waitMs - now) : undefined;
    const error = new BrokenCircuitError(`Circuit breaker "${this.name}" is ${state}`, {
      data:
        retryAfterMs === undefined
          ? { policy: this.name, state }
          : { policy: this.name, state, retryAfterMs },
    });
    if (this.events.active) {
      this.events.emit({
        type: 'rejected',
        policy: this.name,
        kind: 'circuit-breaker',
        at: now,
        reason,
        error,
      });
    }
    throw error;
  }

  private transition(to: number, now: number, force = false): void {
    const from = this.st;
    if (from === to && !force) return;
    this.st = to;
    this.gen++;
    if (to === OPEN) this.openedAt = now;
    if (to === HALF_OPEN) {
      this.permits = this.permitted;
      this.trialCalls = 0;
      this.trialFailures = 0;
      this.trialSlow = 0;
    }
    if (to === CLOSED) this.window.reset();
    if (from === to) return;
    this.transitions++;
    if (this.events.active) {
      this.events.emit({
        type: 'state-change',
        policy: this.name,
        kind: 'circuit-breaker',
        at: now,
        from: STATES[from]!,
        to: STATES[to]!,
      });
    }
  }
}

/** A circuit breaker (defaults: resilience4j's thresholds, Hystrix's 5 s wait in OPEN). */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreaker {
  return new CircuitBreaker(options);
}
