import type { Clock } from '@flotilla/core';
import type { CallContext } from './context.js';

/**
 * The internal protocol between policies and the execution engine. A pipeline is compiled
 * from stage descriptors: runs of retry + gates + timeout are fused into one state machine
 * (`Segment`), everything else wraps the inner runner.
 */

/** Runs the rest of a pipeline for one call. */
export type Runner = (parent: CallContext) => Promise<unknown>;

/** `Gate.tryAdmit` result: admission must continue asynchronously through `admitAsync`. */
export const WAIT = -1;

/** Outcome passed to `Gate.release`. */
export const SUCCESS = 0;
export const FAILURE = 1;
/** Admitted but never ran to an outcome (a later gate refused, or the caller cancelled). */
export const ABANDONED = 2;
export type Outcome = typeof SUCCESS | typeof FAILURE | typeof ABANDONED;

/**
 * An admission policy: circuit breaker, bulkhead, adaptive limiter, rate limiter. Admission is
 * synchronous on the happy path; every admission is released exactly once.
 */
export interface Gate {
  /**
   * `release` needs an exact `end` only for calls whose deadline allows them to run longer than
   * this many ms: 0 means always, Infinity never. Lets the engine skip a clock read per call.
   */
  readonly durationThreshold: number;
  /** Whether `tryAdmit` reads its `now` argument (if not, the engine may pass 0). */
  readonly needsClock: boolean;
  /** Whether `tryAdmit` never answers `WAIT` (lets the engine take its fast path). */
  readonly synchronous: boolean;
  /** Returns a token (≥ 0) to pass to `release`, or `WAIT`; throws the policy's rejection. */
  tryAdmit(ctx: CallContext, now: number): number;
  /** Completes an admission that `tryAdmit` answered with `WAIT`. */
  admitAsync(ctx: CallContext, now: number): Promise<number>;
  /** Ends an admission. `start` is when the work started, `end` when its outcome was known. */
  release(token: number, start: number, end: number, outcome: Outcome, error: unknown): void;
}

/** Per-attempt deadline contributed by a timeout policy. */
export interface TimeoutStage {
  readonly ms: number;
  readonly name: string;
  /** Records an expiry (counters and the `timed-out` event). */
  timedOut(deadline: number, byThisPolicy: boolean, now: number): void;
}

/** Decides about retries; the loop itself lives in the segment. */
export interface RetryStage {
  /** Called once per call entering the retry loop. */
  onCall(now: number): void;
  /** Delay before the next attempt, or -1 to give up. `attempt` is the number of the failed one. */
  decide(ctx: CallContext, attempt: number, error: unknown, now: number): number;
}

export type StageDescriptor =
  | { type: 'gate'; gate: Gate; clock: Clock }
  | { type: 'timeout'; timeout: TimeoutStage; clock: Clock }
  | { type: 'retry'; retry: RetryStage; clock: Clock }
  | { type: 'around'; around: (inner: Runner) => Runner; clock: Clock };

/** Key under which built-in policies expose their descriptor. */
export const STAGE: unique symbol = Symbol('flotilla.resilience.stage');

export interface Staged {
  [STAGE](): StageDescriptor;
}

export function isStaged(value: unknown): value is Staged {
  return typeof value === 'object' && value !== null && STAGE in value;
}
