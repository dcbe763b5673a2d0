import { type Clock, type Logger, sleep, systemClock } from '@flotilla/core';
import { DependencyTimeoutError } from './errors.js';

/** Something a service needs before it can serve: a database, another service, a broker. */
export interface Dependency {
  readonly name: string;
  /** Resolves `undefined` when ready, or a sentence saying why not. Should not throw. */
  check(): Promise<string | undefined>;
}

export interface WaitOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between checks; default 250 ms. */
  intervalMs?: number;
  /** A "still waiting" line at most this often; default 5 s. */
  reportEveryMs?: number;
  log: Logger;
  clock?: Clock;
  signal?: AbortSignal;
}

/** Runs a check; a throw becomes the reason. */
export async function probe(d: Dependency): Promise<string | undefined> {
  try {
    return await d.check();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Waits until every dependency is ready, as an init container would: checks repeatedly, says
 * what it is waiting for, and fails after `timeoutMs` with one message naming each dependency
 * that never came and why.
 */
export async function waitForDependencies(deps: readonly Dependency[], options: WaitOptions): Promise<void> {
  if (deps.length === 0) return;
  const clock = options.clock ?? systemClock;
  const start = clock.now();
  let lastReport = start;
  let pending = [...deps];
  let reasons = new Map<string, string>();
  for (;;) {
    const results = await Promise.all(pending.map(async (d) => [d, await probe(d)] as const));
    reasons = new Map();
    pending = [];
    for (const [d, reason] of results) {
      if (reason === undefined) continue;
      pending.push(d);
      reasons.set(d.name, reason);
    }
    if (pending.length === 0) {
      if (clock.now() - start > 0) options.log.info({ waitedMs: clock.now() - start }, 'dependencies ready');
      return;
    }
    const elapsed = clock.now() - start;
    if (elapsed >= options.timeoutMs) {
      const list = [...reasons].map(([name, reason]) => `${name} (${reason})`).join('; ');
      throw new DependencyTimeoutError(`Gave up after ${options.timeoutMs} ms waiting for ${list}`, {
        data: { waitingFor: Object.fromEntries(reasons) },
      });
    }
    if (elapsed === 0 || clock.now() - lastReport >= (options.reportEveryMs ?? 5_000)) {
      lastReport = clock.now();
      options.log.info(
        { waitingFor: Object.fromEntries(reasons) },
        `waiting for ${[...reasons.keys()].join(', ')}`,
      );
    }
    await sleep(Math.min(options.intervalMs ?? 250, options.timeoutMs - elapsed), options.signal, clock);
  }
}
