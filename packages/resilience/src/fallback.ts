import { isAbortError, isFailure, isRejection } from './classify.js';
import { type CallContext, NONE } from './internal/context.js';
import { STAGE, type StageDescriptor } from './internal/stage.js';
import { checkFunction } from './internal/validate.js';
import {
  BasePolicy,
  type ExecuteOptions,
  type ExecutionContext,
  type PolicyOptions,
  soloContext,
  type Work,
} from './policy.js';

export interface FallbackOptions extends PolicyOptions {
  /**
   * Which errors the fallback answers. Default: failures (connection errors, timeouts, 5xx) and
   * the policies' rejections (open breaker, full bulkhead, rate limit); not 4xx, not caller aborts.
   */
  when?: (error: unknown) => boolean;
}

export interface FallbackSnapshot {
  kind: 'fallback';
  name: string;
  fallbacks: number;
}

/** Produces the substitute answer. Should return what the protected work returns. */
export type FallbackHandler = (error: unknown, ctx: ExecutionContext) => unknown;

function defaultWhen(error: unknown): boolean {
  return !isAbortError(error) && (isRejection(error) || isFailure(error));
}

/**
 * Fallback: when the work (and every policy inside this one) fails with an error it answers,
 * returns the handler's value instead (a cached copy, a default, a degraded response). A call
 * its own caller cancelled is never answered by a fallback.
 */
export class Fallback extends BasePolicy {
  readonly kind = 'fallback' as const;
  private readonly handler: FallbackHandler;
  private readonly when: (error: unknown) => boolean;
  private fallbacks = 0;

  constructor(handler: FallbackHandler, options: FallbackOptions = {}) {
    super('fallback', options);
    checkFunction('Fallback', 'handler', handler);
    if (options.when !== undefined) checkFunction('Fallback', 'when', options.when);
    this.handler = handler;
    this.when = options.when ?? defaultWhen;
  }

  override execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
    // Alone, without deadline or cancellation, the engine would only await the work: answer
    // its failure directly, with one promise reaction instead of two.
    const ctx = soloContext(fn, options);
    if (ctx === undefined) return super.execute(fn, options);
    let result: PromiseLike<T> | T;
    try {
      result = fn(ctx);
    } catch (error) {
      result = Promise.reject(error);
    }
    return Promise.resolve(result).then(undefined, (error: unknown) => this.answer(error, ctx) as T);
  }

  snapshot(): FallbackSnapshot {
    return { kind: 'fallback', name: this.name, fallbacks: this.fallbacks };
  }

  [STAGE](): StageDescriptor {
    return {
      type: 'around',
      clock: this.clock,
      around: (inner) => (parent) =>
        inner(parent).then(undefined, (error: unknown) => this.answer(error, parent)),
    };
  }

  /** The handler's answer to a failed call, or `error` rethrown when this fallback does not answer it. */
  private answer(error: unknown, parent: CallContext): unknown {
    if (parent.cancelReason() !== NONE || !this.when(error)) throw error;
    this.fallbacks++;
    if (this.events.active) {
      this.events.emit({
        type: 'fallback',
        policy: this.name,
        kind: 'fallback',
        at: this.clock.now(),
        error,
      });
    }
    return this.handler(error, parent);
  }
}

/** A fallback that answers failures with `handler(error, ctx)`. */
export function fallback(handler: FallbackHandler, options?: FallbackOptions): Fallback {
  return new Fallback(handler, options);
}
