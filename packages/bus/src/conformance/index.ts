import { describe, it } from 'vitest';
import { deliveryTests } from './delivery.js';
import { failureTests } from './failures.js';
import { faultTests } from './faults.js';
import { type AdapterFactory, Harness } from './harness.js';
import { orderingTests } from './ordering.js';
import { requestReplyTests } from './request-reply.js';

export { checkDlqCommand, type DlqCommandTarget, runBusCommand } from './dlq-command.js';
export { type AdapterFactory, Gate, Harness, waitFor } from './harness.js';
export {
  assertBuilt,
  formatKillTestResult,
  KILL_GROUP,
  KillItem,
  type KillTestOptions,
  type KillTestProcess,
  type KillTestProcesses,
  type KillTestResult,
  type KillTestSettings,
  killTestSettings,
  runKillTest,
} from './kill.js';

/** Names of the conformance tests, for `skip`. */
export const CONFORMANCE_TESTS = [
  'publish/subscribe',
  'competing consumers',
  'multicast to groups',
  'durable subscription',
  'validation on publish',
  'invalid message to DLQ',
  'retry with backoff',
  'DLQ after maxAttempts',
  'DLQ replay and purge',
  'per-key order',
  'request/reply',
  'request deadline',
  'redelivery after crash',
  'reconnect',
] as const;

export type ConformanceTest = (typeof CONFORMANCE_TESTS)[number];

/** Options of `busConformance`. */
export interface ConformanceOptions extends AdapterFactory {
  /** Adapter name in the suite title. */
  name: string;
  /** Tests this adapter does not pass yet, each with the reason (printed in the skip). */
  skip?: readonly { test: ConformanceTest; reason: string }[];
}

/** Registers a conformance test; the suite modules call it. */
export type DefineTest = (
  name: ConformanceTest,
  body: (h: Harness, skip: (note?: string) => never) => Promise<void>,
) => void;

/**
 * The bus adapter conformance suite: every adapter's test file calls it with a factory and the
 * tests it skips (with reasons). Tests needing a capability or test hook the adapter lacks are
 * skipped with that reason.
 */
export function busConformance(options: ConformanceOptions): void {
  const define: DefineTest = (name, body) => {
    const skipped = options.skip?.find((s) => s.test === name);
    if (skipped !== undefined) {
      it.skip(`${name} (skipped: ${skipped.reason})`, () => {});
      return;
    }
    it(name, async ({ onTestFinished, skip }) => {
      const harness = new Harness(options);
      onTestFinished(() => harness.close());
      await body(harness, skip as (note?: string) => never);
    });
  };
  describe(`bus conformance: ${options.name}`, () => {
    deliveryTests(define);
    failureTests(define);
    orderingTests(define);
    requestReplyTests(define);
    faultTests(define);
  });
}
