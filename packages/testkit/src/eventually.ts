import { setTimeout as sleep } from 'node:timers/promises';

/** Options of `eventually`. */
export interface EventuallyOptions {
  /** Give up (rethrowing the last error) after this long; default 10 s. */
  timeoutMs?: number;
  /** Pause between tries; default 20 ms. */
  intervalMs?: number;
}

/**
 * Retries `fn` until it stops throwing, for outcomes that arrive asynchronously. It waits for
 * behaviour, it asserts no timing: the timeout only bounds a test that would otherwise hang.
 */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 20 }: EventuallyOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(intervalMs);
    }
  }
}
