import {
  isConnectionError,
  isFailure,
  isRejection,
  isRetryable,
  isTimeoutError,
  statusOf,
} from './classify.js';

/** Decides whether an error counts (as a failure, as retryable, as answered by a fallback). */
export type ErrorPredicate = (error: unknown) => boolean;

/** Names a spec may use without registering them, besides `status:NNN` and `status:Nxx`. */
const BUILT_IN: Record<string, ErrorPredicate> = {
  'connection-error': isConnectionError,
  timeout: isTimeoutError,
  /** The circuit breaker's default: connection errors, timeouts, 5xx, errors without a status. */
  failure: isFailure,
  /** The retry policy's default. */
  retryable: isRetryable,
  /** The policies' own rejections: open breaker, full bulkhead, rate limited, ... */
  rejection: isRejection,
};

export const BUILT_IN_PREDICATES: readonly string[] = [...Object.keys(BUILT_IN), 'status:NNN', 'status:Nxx'];

function statusPredicate(name: string): ErrorPredicate | undefined {
  const m = /^status:([1-5])(xx|\d\d)$/.exec(name);
  if (m === null) return undefined;
  const [, hundreds = '', rest = ''] = m;
  if (rest === 'xx') {
    const low = Number(hundreds) * 100;
    return (error) => {
      const s = statusOf(error);
      return s !== undefined && s >= low && s < low + 100;
    };
  }
  const status = Number(hundreds + rest);
  return (error) => statusOf(error) === status;
}

/**
 * The predicate a name stands for: a registered one first, then a built-in. A list matches when
 * any of its predicates does. Returns the first unknown name instead when there is one.
 */
export function resolvePredicate(
  ref: string | readonly string[],
  registered: Readonly<Record<string, ErrorPredicate>>,
): ErrorPredicate | { unknown: string } {
  const names = typeof ref === 'string' ? [ref] : ref;
  const found: ErrorPredicate[] = [];
  for (const name of names) {
    const p = Object.hasOwn(registered, name)
      ? registered[name]
      : Object.hasOwn(BUILT_IN, name)
        ? BUILT_IN[name]
        : statusPredicate(name);
    if (p === undefined) return { unknown: name };
    found.push(p);
  }
  if (found.length === 1) return found[0]!;
  return (error) => {
    for (const p of found) if (p(error)) return true;
    return false;
  };
}
