// The measuring loops shared by the bus benchmarks (bus-*.bench.mjs): every adapter and its raw
// client are driven the same way. A `system` has `publish(sentAt)` and calls `onMessage(sentAt)`
// for each message it consumes.
import { performance } from 'node:perf_hooks';

/** Concurrent publishing loops in `throughput`. */
export const PUBLISHERS = 8;

export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Publishes `count` messages from PUBLISHERS concurrent loops; resolves when all were consumed. */
export async function throughput(system, count) {
  const latencies = [];
  let done;
  const allConsumed = new Promise((resolve) => {
    done = resolve;
  });
  system.onMessage = (sentAt) => {
    latencies.push(performance.now() - sentAt);
    if (latencies.length === count) done();
  };
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: PUBLISHERS }, async () => {
      while (next < count) {
        next++;
        await system.publish(performance.now());
      }
    }),
  );
  await allConsumed;
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { perSecond: count / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** One message at a time: publish, wait until consumed, repeat. */
export async function pingPong(system, count) {
  const latencies = [];
  for (let i = 0; i < count; i++) {
    const consumed = new Promise((resolve) => {
      system.onMessage = (sentAt) => resolve(performance.now() - sentAt);
    });
    await system.publish(performance.now());
    latencies.push(await consumed);
  }
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}
