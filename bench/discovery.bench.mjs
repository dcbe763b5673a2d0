// Discovery client: how fast a registration made through one DiscoveryClient reaches another
// client's watch-fed copy (real registry process, `flotilla registry`), and what choosing an
// instance from the local copy costs per strategy, next to what a user might write by hand.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../packages/core/dist/index.js';
import { Balancer, DiscoveryClient, hash32, InstanceCache } from '../packages/discovery/dist/index.js';
import { best, printTable, saveResults } from './lib.mjs';

const logger = createLogger({ service: 'bench', level: 'silent' });
const ROUNDS = 300;
const WARMUP = 30;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startRegistry() {
  const port = await freePort();
  const bin = fileURLToPath(new URL('../packages/cli/bin/flotilla.mjs', import.meta.url));
  const child = spawn(process.execPath, [bin, 'registry', '--port', String(port), '--host', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, FLOTILLA_LOG_LEVEL: 'info' },
  });
  await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('registry listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`registry exited with ${code}: ${out}`)));
  });
  child.stdout.resume();
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1),
  };
}

async function propagation() {
  const registry = await startRegistry();
  const a = new DiscoveryClient({ registryUrl: registry.url, logger });
  const b = new DiscoveryClient({ registryUrl: registry.url, logger, services: ['bench'] });
  await b.start();
  const waiters = new Map();
  b.on('change', (change) => {
    const now = performance.now();
    for (const i of change.added) waiters.get(`+${i.instanceId}`)?.(now);
    for (const i of change.removed) waiters.get(`-${i.instanceId}`)?.(now);
  });
  const seen = (key) => new Promise((resolve) => waiters.set(key, resolve));
  const up = [];
  const down = [];
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    const id = `bench-${i}`;
    const added = seen(`+${id}`);
    const t0 = performance.now();
    await a.register({ service: 'bench', instanceId: id, host: '127.0.0.1', port: 9000 });
    const t1 = await added;
    const removed = seen(`-${id}`);
    const t2 = performance.now();
    await a.deregister();
    const t3 = await removed;
    if (i >= WARMUP) {
      up.push(t1 - t0);
      down.push(t3 - t2);
    }
  }
  await Promise.all([a.close(), b.close()]);
  await registry.stop();
  return { register: stats(up), deregister: stats(down) };
}

function pickCosts(size) {
  const zones = ['z1', 'z2', 'z3'];
  const all = Array.from({ length: size }, (_, i) => ({
    service: 'orders',
    instanceId: `orders-${i}`,
    host: `10.0.0.${i}`,
    port: 8080,
    zone: zones[i % zones.length],
    metadata: {},
    status: i % 10 === 9 ? 'DOWN' : 'UP',
    lease: { renewalIntervalMs: 10_000, durationMs: 30_000 },
    registeredAt: 1,
    lastRenewedAt: 1,
    updatedAt: 1,
    revision: i + 1,
  }));
  const cache = new InstanceCache();
  cache.applySnapshot(size, all);
  const source = { instances: (s) => cache.instances(s), on: () => () => {} };
  const keys = Array.from({ length: 1024 }, (_, i) => `user-${i}`);
  let k = 0;
  const nextKey = () => keys[k++ & 1023];

  const naiveRandom = () => {
    const up = all.filter((i) => i.status === 'UP');
    return up[Math.floor(Math.random() * up.length)];
  };
  const naiveHash = () => {
    const up = all.filter((i) => i.status === 'UP');
    return up[hash32(nextKey()) % up.length];
  };
  const naiveZone = () => {
    const local = all.filter((i) => i.status === 'UP' && i.zone === 'z1');
    const from = local.length >= 2 ? local : all.filter((i) => i.status === 'UP');
    return from[Math.floor(Math.random() * from.length)];
  };
  const naiveLeast = (() => {
    const outstanding = new Map();
    return () => {
      const up = all.filter((i) => i.status === 'UP');
      return up.reduce((a, b) =>
        (outstanding.get(a.instanceId) ?? 0) <= (outstanding.get(b.instanceId) ?? 0) ? a : b,
      );
    };
  })();

  const cases = [
    {
      strategy: 'round-robin',
      make: () => new Balancer({ source, strategy: 'round-robin' }),
      naive: naiveRandom,
      naiveName: 'filter UP + Math.random',
    },
    {
      strategy: 'random',
      make: () => new Balancer({ source, strategy: 'random' }),
      naive: naiveRandom,
      naiveName: 'filter UP + Math.random',
    },
    {
      strategy: 'least-outstanding',
      make: () => new Balancer({ source, strategy: 'least-outstanding' }),
      naive: naiveLeast,
      naiveName: 'filter UP + reduce over a Map',
    },
    {
      strategy: 'p2c-ewma',
      make: () => new Balancer({ source, strategy: 'p2c-ewma' }),
      naive: naiveRandom,
      naiveName: 'filter UP + Math.random',
    },
    {
      strategy: 'consistent-hash',
      make: () => new Balancer({ source, strategy: 'consistent-hash' }),
      key: true,
      naive: naiveHash,
      naiveName: 'filter UP + hash % n (not consistent)',
    },
    {
      strategy: 'zone-preference(round-robin)',
      make: () => new Balancer({ source, strategy: 'round-robin', zone: 'z1' }),
      naive: naiveZone,
      naiveName: 'filter UP + zone + Math.random',
    },
  ];
  const rows = [];
  for (const c of cases) {
    const balancer = c.make();
    // Give the stateful strategies some state: calls in flight, latencies.
    const strategy = balancer.strategyFor('orders');
    for (const [n, i] of cache.instances('orders').entries()) {
      for (let j = 0; j < n % 3; j++) strategy.onStart?.(i);
      strategy.onEnd?.(i, { ok: true, latencyMs: 5 + (n % 7) });
      strategy.onStart?.(i);
    }
    const pick = c.key ? () => balancer.pick('orders', { key: nextKey() }) : () => balancer.pick('orders');
    rows.push({ c, pick });
  }
  return { cases: rows, size };
}

async function measurePicks(size) {
  const { cases } = pickCosts(size);
  const rows = [];
  for (const { c, pick } of cases) {
    const ours = await best(pick, { iterations: 2_000_000 });
    const naive = await best(c.naive, { iterations: 500_000 });
    rows.push({
      instances: String(size),
      strategy: c.strategy,
      'ns/pick': 1e9 / ours,
      alternative: c.naiveName,
      'alt ns/pick': 1e9 / naive,
      speedup: ours / naive,
    });
  }
  return rows;
}

const prop = await propagation();
console.log(`Propagation through DiscoveryClient A → registry → DiscoveryClient B (${ROUNDS} rounds, ms):\n`);
printTable(
  [
    { change: 'register → watcher sees it', ...prop.register },
    { change: 'deregister → watcher sees it', ...prop.deregister },
  ],
  ['change', 'n', 'p50', 'p99', 'max'],
);

const picks = [...(await measurePicks(10)), ...(await measurePicks(100))];
console.log('\nPick cost from the local copy (balancer.pick: copy lookup + ejection check + strategy):\n');
printTable(picks, ['instances', 'strategy', 'ns/pick', 'alternative', 'alt ns/pick', 'speedup']);

// Allocation check: a million picks should not grow the heap.
globalThis.gc?.();
const before = process.memoryUsage().heapUsed;
const { cases } = pickCosts(10);
for (const { pick } of cases) for (let i = 0; i < 1_000_000; i++) pick();
globalThis.gc?.();
const after = process.memoryUsage().heapUsed;
console.log(
  `\nheapUsed after GC: ${(before / 1e6).toFixed(2)} MB before, ${(after / 1e6).toFixed(2)} MB after 6 M picks`,
);

console.log(`\nwrote ${saveResults('discovery', { propagationMs: prop, picks, heap: { before, after } })}`);
