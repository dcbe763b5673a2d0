// Per-call overhead of @flotilla/resilience next to opossum 9 and cockatiel 3, in one process.
//
//   npx tsc -b && node --expose-gc bench/resilience.bench.mjs   (from the repository root)
//
// Every scenario awaits `policy.execute(work)` in a loop, where `work` is an async function that
// returns at once: what is measured is the policies' own cost per call. Rows are run in
// interleaved rounds (A B C, A B C, ...) and the median round is reported, so drift of the machine
// affects every library alike. The last rows turn on AsyncLocalStorage (which Node 20 cannot turn
// off again) to show what in-process deadline propagation costs every library.
// Results go to bench/results/resilience.json.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CircuitBreakerOpossum = require('opossum');
const cockatiel = await import('cockatiel');
const flotilla = await import('../packages/resilience/dist/index.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const FAST = Math.round(600_000 * SCALE); // iterations per round for fast rows
const SLOW = Math.round(60_000 * SCALE); // for rows that run below ~500k ops/s
const MEMORY_CALLS = Math.round(10_000_000 * SCALE);

const work = async () => 1;

// ---- policies, configured alike: count window of 100, 50% failures, 1 s timeout, 100 slots, 3 attempts

function flotillaPolicies() {
  const {
    wrap,
    retry,
    circuitBreaker,
    bulkhead,
    timeout,
    fallback,
    tokenBucket,
    hedge,
    adaptiveConcurrency,
  } = flotilla;
  const breaker = () =>
    circuitBreaker({ failureRateThreshold: 50, slidingWindowSize: 100, minimumNumberOfCalls: 100 });
  const bh = () => bulkhead({ maxConcurrentCalls: 100 });
  const rt = () => retry({ maxAttempts: 3 });
  const to = () => timeout(1000);
  return {
    composed: wrap(rt(), breaker(), bh(), to()),
    breaker: breaker(),
    bulkhead: bh(),
    timeout: to(),
    retry: rt(),
    fallback: fallback(() => 0),
    rateLimiter: tokenBucket({ limit: 1e12, burst: 1e9 }),
    hedge: hedge({ delayMs: 1000 }),
    adaptive: adaptiveConcurrency(),
  };
}

function cockatielPolicies() {
  const {
    wrap,
    retry,
    circuitBreaker,
    bulkhead,
    timeout,
    fallback,
    handleAll,
    CountBreaker,
    ExponentialBackoff,
    TimeoutStrategy,
  } = cockatiel;
  const breaker = () =>
    circuitBreaker(handleAll, {
      halfOpenAfter: 5000,
      breaker: new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 100 }),
    });
  const bh = () => bulkhead(100, 0);
  const rt = () => retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() });
  const to = () => timeout(1000, TimeoutStrategy.Aggressive);
  return {
    composed: wrap(rt(), breaker(), bh(), to()),
    breaker: breaker(),
    bulkhead: bh(),
    timeout: to(),
    retry: rt(),
    fallback: fallback(handleAll, 0),
  };
}

function opossumPolicies() {
  const options = { errorThresholdPercentage: 50, resetTimeout: 5000, volumeThreshold: 100 };
  return {
    // opossum has no retry or bulkhead of its own: its closest equivalent of the composed path is
    // a breaker with its built-in timeout and concurrency cap.
    composed: new CircuitBreakerOpossum(work, { ...options, timeout: 1000, capacity: 100 }),
    breaker: new CircuitBreakerOpossum(work, { ...options, timeout: false }),
  };
}

function scenarios() {
  const f = flotillaPolicies();
  const c = cockatielPolicies();
  const o = opossumPolicies();
  const F = (p) => () => p.execute(work);
  const C = (p) => () => p.execute(work);
  const O = (b) => () => b.fire();
  return [
    {
      name: 'composed: retry + breaker + bulkhead + timeout',
      flotilla: F(f.composed),
      cockatiel: C(c.composed),
      opossum: O(o.composed),
    },
    { name: 'circuit breaker', flotilla: F(f.breaker), cockatiel: C(c.breaker), opossum: O(o.breaker) },
    { name: 'bulkhead', flotilla: F(f.bulkhead), cockatiel: C(c.bulkhead) },
    { name: 'timeout', flotilla: F(f.timeout), cockatiel: C(c.timeout) },
    { name: 'retry', flotilla: F(f.retry), cockatiel: C(c.retry) },
    { name: 'fallback', flotilla: F(f.fallback), cockatiel: C(c.fallback) },
    { name: 'rate limiter (token bucket)', flotilla: F(f.rateLimiter) },
    { name: 'hedge (no hedge fires)', flotilla: F(f.hedge) },
    { name: 'adaptive concurrency', flotilla: F(f.adaptive) },
    { name: 'baseline: bare async call', flotilla: work },
  ];
}

// Every call's result is consumed and checked, for every library alike: nothing can be
// optimised away, and a policy that answered something else than the work would be caught.
let answered = 0;

async function measure(run, iterations) {
  let sum = 0;
  const start = performance.now();
  for (let i = 0; i < iterations; i++) sum += await run();
  const opsPerSecond = iterations / ((performance.now() - start) / 1000);
  if (sum !== iterations) throw new Error(`expected every call to answer 1, got a sum of ${sum}`);
  answered += sum;
  return opsPerSecond;
}

async function runRows(rows, label) {
  const libs = ['flotilla', 'opossum', 'cockatiel'];
  // Warm-up: every function is hot before anything is measured.
  for (const row of rows) for (const lib of libs) if (row[lib]) await measure(row[lib], 50_000);
  const samples = rows.map(() => ({ flotilla: [], opossum: [], cockatiel: [] }));
  for (let round = 0; round < ROUNDS; round++) {
    // The order of libraries rotates per round, so none always runs right after another's garbage.
    const order = [...libs.slice(round % libs.length), ...libs.slice(0, round % libs.length)];
    for (const [i, row] of rows.entries()) {
      for (const lib of order) {
        if (!row[lib]) continue;
        // A cheap probe decides the size, so slow rows do not take minutes.
        const probe = await measure(row[lib], 20_000);
        samples[i][lib].push(await measure(row[lib], probe < 500_000 ? SLOW : FAST));
      }
    }
    process.stderr.write(`${label}: round ${round + 1}/${ROUNDS} done\n`);
  }
  return rows.map((row, i) => {
    const r = {
      scenario: row.name,
      flotilla: median(samples[i].flotilla),
      opossum: median(samples[i].opossum),
      cockatiel: median(samples[i].cockatiel),
    };
    r.vsOpossum = r.opossum ? r.flotilla / r.opossum : undefined;
    r.vsCockatiel = r.cockatiel ? r.flotilla / r.cockatiel : undefined;
    return r;
  });
}

function heapAfterGc() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

async function memoryCheck() {
  if (typeof globalThis.gc !== 'function') return undefined;
  const p = flotillaPolicies().composed;
  for (let i = 0; i < 100_000; i++) await p.execute(work);
  const before = heapAfterGc();
  const start = performance.now();
  for (let i = 0; i < MEMORY_CALLS; i++) await p.execute(work);
  const seconds = (performance.now() - start) / 1000;
  const after = heapAfterGc();
  return {
    calls: MEMORY_CALLS,
    heapBeforeBytes: before,
    heapAfterBytes: after,
    growthBytes: after - before,
    seconds,
  };
}

const fmt = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const ratio = (n) => (n === undefined ? '—' : `${n.toFixed(2)}×`);

function table(results) {
  const lines = [
    '| scenario | flotilla ops/s | opossum ops/s | cockatiel ops/s | vs opossum | vs cockatiel |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.scenario} | ${fmt(r.flotilla)} | ${fmt(r.opossum)} | ${fmt(r.cockatiel)} | ${ratio(r.vsOpossum)} | ${ratio(r.vsCockatiel)} |`,
    );
  }
  return lines.join('\n');
}

const started = Date.now();
const results = await runRows(scenarios(), 'policies');
const memory = await memoryCheck();

// AsyncLocalStorage: once a store is entered, Node 20 runs promise hooks for every promise in the
// process; this is the cost of in-process deadline propagation, paid by every library alike.
flotilla.enableDeadlineContext();
const alsRows = await flotilla.withDeadline(Date.now() + 3_600_000, async () => {
  const f = flotillaPolicies();
  const c = cockatielPolicies();
  const o = opossumPolicies();
  return runRows(
    [
      {
        name: 'composed, inside withDeadline (AsyncLocalStorage active)',
        flotilla: () => f.composed.execute(work),
        cockatiel: () => c.composed.execute(work),
        opossum: () => o.composed.fire(),
      },
    ],
    'deadline context',
  );
});
const all = [...results, ...alsRows];

const composed = results[0];
const goals = {
  twiceOpossum: composed.vsOpossum >= 2,
  notSlowerThanCockatiel: composed.vsCockatiel >= 1,
  noMemoryGrowth: memory === undefined ? undefined : memory.growthBytes < 1024 * 1024,
};

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
  versions: {
    opossum: require('opossum/package.json').version,
    cockatiel: require('cockatiel/package.json').version,
  },
};

console.log(`\n${table(all)}\n`);
if (memory) {
  console.log(
    `memory: heapUsed after GC ${(memory.heapBeforeBytes / 1e6).toFixed(2)} MB before and ${(memory.heapAfterBytes / 1e6).toFixed(2)} MB after ${memory.calls.toLocaleString('en-US')} composed calls (${(memory.growthBytes / 1e3).toFixed(1)} kB growth, ${(memory.calls / memory.seconds).toFixed(0)} ops/s)`,
  );
} else {
  console.log('memory: skipped (run with node --expose-gc)');
}
console.log(
  `goals: composed ≥ 2× opossum: ${goals.twiceOpossum ? 'yes' : 'NO'}; not slower than cockatiel: ${goals.notSlowerThanCockatiel ? 'yes' : 'NO'}; no memory growth: ${goals.noMemoryGrowth === undefined ? 'not measured' : goals.noMemoryGrowth ? 'yes' : 'NO'}`,
);
console.log(`calls answered and checked: ${answered.toLocaleString('en-US')}`);
console.log(
  `machine: ${machine.cpus} cores, ${machine.cpuModel}, Node ${machine.node}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
);

const out = join(here, 'results', 'resilience.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ benchmark: 'resilience', date: new Date().toISOString(), machine, rounds: ROUNDS, results: all, memory, goals }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
