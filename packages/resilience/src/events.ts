import type { FlotillaError } from '@flotilla/core';

/** Kinds of policy, as they appear in events, snapshots and the `kind` metric label. */
export type PolicyKind =
  | 'circuit-breaker'
  | 'bulkhead'
  | 'adaptive-concurrency'
  | 'timeout'
  | 'retry'
  | 'rate-limiter'
  | 'fallback'
  | 'hedge'
  | 'pipeline';

/** Circuit breaker states (resilience4j's set, minus METRICS_ONLY). */
export type CircuitState = 'CLOSED' | 'OPEN' | 'HALF_OPEN' | 'FORCED_OPEN' | 'DISABLED';

interface EventBase {
  /** Name of the policy that emitted the event. */
  policy: string;
  kind: PolicyKind;
  /** Clock time (Unix ms) of the event. */
  at: number;
}

/** A circuit breaker changed state. */
export interface StateChangeEvent extends EventBase {
  type: 'state-change';
  from: CircuitState;
  to: CircuitState;
}

/** A policy refused a call without running it. */
export interface RejectedEvent extends EventBase {
  type: 'rejected';
  /** `open`, `forced-open`, `half-open-full`, `full`, `queue-timeout`, `limit`, `rate`. */
  reason: string;
  error: FlotillaError;
}

/** A retry policy is about to run another attempt. */
export interface RetriedEvent extends EventBase {
  type: 'retried';
  /** Number of the attempt that failed (1-based). */
  attempt: number;
  delayMs: number;
  error: unknown;
}

/** A retry policy stopped retrying a failed call. */
export interface RetryGaveUpEvent extends EventBase {
  type: 'gave-up';
  attempt: number;
  /** `attempts`, `deadline`, `budget`, `not-retryable`, `not-idempotent`. */
  reason: string;
  error: unknown;
}

/** An attempt ran past its deadline and was cancelled. */
export interface TimedOutEvent extends EventBase {
  type: 'timed-out';
  /** The timeout policy's duration, or undefined when an inherited deadline expired. */
  timeoutMs: number | undefined;
  deadline: number;
}

/** A hedge policy started another concurrent attempt. */
export interface HedgedEvent extends EventBase {
  type: 'hedged';
  attempt: number;
  delayMs: number;
}

/** A fallback answered instead of the failed call. */
export interface FallbackEvent extends EventBase {
  type: 'fallback';
  error: unknown;
}

/** An adaptive concurrency limit moved. */
export interface LimitChangedEvent extends EventBase {
  type: 'limit-changed';
  from: number;
  to: number;
}

/** Everything a policy reports. */
export type ResilienceEvent =
  | StateChangeEvent
  | RejectedEvent
  | RetriedEvent
  | RetryGaveUpEvent
  | TimedOutEvent
  | HedgedEvent
  | FallbackEvent
  | LimitChangedEvent;

/** Receives a policy's events. Called synchronously; keep it cheap. */
export type EventListener = (event: ResilienceEvent) => void;

/** Listener list of one policy. Emitting with no listener costs one length check. */
export class EventHub {
  private listeners: EventListener[] = [];

  /** True when someone listens (callers skip building the event otherwise). */
  get active(): boolean {
    return this.listeners.length !== 0;
  }

  /** Adds a listener; returns the function that removes it. */
  on(listener: EventListener): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(event: ResilienceEvent): void {
    // The array is replaced, never mutated, so a listener that unsubscribes mid-emit is safe.
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        // A broken dashboard or metrics listener must not fail the call it observes.
        process.emitWarning(`resilience event listener threw: ${String(error)}`, 'FlotillaResilienceWarning');
      }
    }
  }
}
