import type { Clock } from '@flotilla/core';
import type { Policy } from '../policy.js';
import { Segment } from './segment.js';
import {
  type Gate,
  isStaged,
  type RetryStage,
  type Runner,
  STAGE,
  type StageDescriptor,
  type TimeoutStage,
} from './stage.js';

/** Adapts a policy that only implements `Policy.execute` (not built in) as an around-stage. */
function foreign(policy: Policy, clock: Clock): StageDescriptor {
  return {
    type: 'around',
    clock,
    around: (inner) => (parent) =>
      policy.execute((c) => {
        const dl = c.deadline !== undefined && c.deadline < parent.dl ? c.deadline : parent.dl;
        const child = parent.child(c.attempt, dl);
        const signal = c.signal;
        if (signal.aborted) {
          child.cancel(signal.reason);
          return inner(child);
        }
        const onAbort = () => child.cancel(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        return inner(child).finally(() => signal.removeEventListener('abort', onAbort));
      }, parent),
  };
}

/**
 * Compiles policies (outermost first) into one runner. Maximal runs of the shape
 * `[retry] gate* [timeout]` become one fused `Segment`; other policies wrap the runner inside
 * them. The innermost runner is always a segment, so deadlines and cancellation are enforced
 * even when no timeout policy is present.
 */
export function compile(policies: readonly Policy[], clock: Clock): Runner {
  const descriptors: StageDescriptor[] = policies.map((p) => (isStaged(p) ? p[STAGE]() : foreign(p, clock)));
  let inner: Runner | undefined;
  let i = descriptors.length - 1;
  while (i >= 0) {
    const d = descriptors[i]!;
    if (d.type === 'around') {
      inner = d.around(inner ?? new Segment(undefined, [], undefined, undefined, d.clock).run);
      i--;
      continue;
    }
    let timeout: TimeoutStage | undefined;
    let retry: RetryStage | undefined;
    const gates: Gate[] = [];
    const segmentClock = d.clock;
    if (d.type === 'timeout') {
      timeout = d.timeout;
      i--;
    }
    for (let g = descriptors[i]; g !== undefined && g.type === 'gate'; g = descriptors[--i]) {
      gates.unshift(g.gate);
    }
    const r = descriptors[i];
    if (r !== undefined && r.type === 'retry') {
      retry = r.retry;
      i--;
    }
    inner = new Segment(retry, gates, timeout, inner, segmentClock).run;
  }
  return inner ?? new Segment(undefined, [], undefined, undefined, clock).run;
}
