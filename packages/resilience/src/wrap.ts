import { systemClock } from '@flotilla/core';
import type { EventListener } from './events.js';
import { compile } from './internal/compile.js';
import type { Runner } from './internal/stage.js';
import {
  BasePolicy,
  type ExecuteOptions,
  type ExecutionContext,
  enter,
  type PipelineSnapshot,
  type Policy,
  type Work,
} from './policy.js';

/**
 * Policies composed into one. `wrap(a, b, c)` runs `a(b(c(work)))`: the first policy is the
 * outermost. Runs of retry + gates + timeout are fused into one state machine, so composing
 * costs about as much as a single policy.
 */
export class Pipeline implements Policy {
  readonly kind = 'pipeline' as const;
  readonly name: string;
  /** The composed policies, outermost first (nested pipelines flattened). */
  readonly policies: readonly Policy[];
  private readonly runner: Runner;

  constructor(policies: readonly Policy[], name = 'pipeline') {
    const flat: Policy[] = [];
    for (const p of policies) {
      if (p instanceof Pipeline) flat.push(...p.policies);
      else flat.push(p);
    }
    this.policies = flat;
    this.name = name;
    const first = flat.find((p): p is BasePolicy => p instanceof BasePolicy);
    this.runner = compile(flat, first?.clock ?? systemClock);
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
    return enter(this.runner, fn, options);
  }

  onEvent(listener: EventListener): () => void {
    const offs = this.policies.map((p) => p.onEvent(listener));
    return () => {
      for (const off of offs) off();
    };
  }

  snapshot(): PipelineSnapshot {
    return { kind: 'pipeline', name: this.name, policies: this.policies.map((p) => p.snapshot()) };
  }
}

/**
 * Composes policies, outermost first. The recommended order (what `fromSpec` builds) is
 * `fallback, retry, hedge, circuitBreaker, rateLimiter, bulkhead | adaptiveConcurrency, timeout`.
 */
export function wrap(...policies: Policy[]): Pipeline {
  return new Pipeline(policies);
}
