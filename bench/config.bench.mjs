// Config server: resolution requests/s of the native and the Spring-compatible endpoints on a
// realistic config, next to a server that reads and merges the YAML files per request (what a
// hand-rolled config endpoint does); the cost of reading a value in a service; and how long a
// file edit takes to reach a running client. Servers run in child processes, so the load
// generator does not share their event loop.
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { best, printTable, saveResults } from './lib.mjs';

const here = fileURLToPath(import.meta.url);
const KEYS = { k1: Buffer.alloc(32, 1).toString('base64'), k2: Buffer.alloc(32, 2).toString('base64') };
const TOKEN = 'orders-bench-token-0123456789';

if (process.argv[2] === 'serve') await serve(process.argv[3], process.argv[4]);
else await main();

/** A config of the size services carry: ~120 keys over 5 files, 3 secrets, a version override. */
function writeConfig(dir, keys) {
  const section = (prefix, n, value) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, value(i)]));
  const docs = {
    application: {
      server: { port: 8080, host: '0.0.0.0', compression: true },
      logging: { level: { root: 'info', 'com.flotilla': 'debug' } },
      management: { endpoints: ['health', 'metrics', 'info'] },
      http: section('client', 10, (i) => ({ timeoutMs: 1000 + i, retries: 2, pool: 10 })),
    },
    'application-prod': { logging: { level: { root: 'warn' } }, http: { client0: { timeoutMs: 500 } } },
    orders: {
      db: {
        url: 'postgres://db:5432/orders',
        user: 'orders',
        password: keys.encrypt('orders-db-password'),
        pool: { size: 10 },
      },
      features: section('flag', 30, (i) => i % 2 === 0),
      pricing: { currency: 'EUR', tiers: [10, 50, 100], taxes: section('region', 15, (i) => 0.05 + i / 100) },
      broker: { url: 'amqp://bus', apiKey: keys.encrypt('broker-api-key') },
    },
    'orders-prod': {
      db: { pool: { size: 40 }, url: 'postgres://prod-db:5432/orders' },
      features: { flag0: false },
    },
    'orders@^2.0.0': { pricing: { currency: 'USD' }, webhook: { secret: keys.encrypt('webhook-secret') } },
  };
  for (const [name, data] of Object.entries(docs)) writeFileSync(join(dir, `${name}.yaml`), stringify(data));
}

/** Child process: one of the servers under test. */
async function serve(kind, dir) {
  const { createLogger } = await import('../packages/core/dist/index.js');
  const logger = createLogger({ service: 'bench', level: 'error' });
  if (kind === 'flotilla') {
    const { ConfigServer, DirectorySource, KeyRing, TokenAuth } = await import(
      '../packages/config/dist/index.js'
    );
    const server = new ConfigServer({
      sources: [new DirectorySource({ dir, displayDir: 'config', logger })],
      keys: KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: `k1:${KEYS.k1},k2:${KEYS.k2}` }),
      auth: TokenAuth.fromEnv({ FLOTILLA_CONFIG_TOKENS: `orders=${TOKEN}` }),
      logger,
    });
    const url = await server.listen({ port: 0, host: '127.0.0.1' });
    process.send({ port: Number(new URL(url).port) });
  } else {
    // The alternative: read, parse and merge the YAML files on every request.
    const { default: Fastify } = await import('fastify');
    const { readFile } = await import('node:fs/promises');
    const merge = (a, b) => {
      for (const [k, v] of Object.entries(b)) {
        a[k] =
          v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object'
            ? merge(a[k], v)
            : v;
      }
      return a;
    };
    const app = Fastify();
    app.get('/config/:service/:env', async (req) => {
      const { service, env } = req.params;
      const names = ['application', `application-${env}`, service, `${service}-${env}`];
      const texts = await Promise.all(
        names.map((n) => readFile(join(dir, `${n}.yaml`), 'utf8').catch(() => '')),
      );
      return texts.reduce((acc, t) => merge(acc, parse(t) ?? {}), {});
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    process.send({ port: app.server.address().port });
  }
}

function startChild(kind, dir) {
  const child = fork(here, ['serve', kind, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

/**
 * Requests/s with `concurrency` keep-alive connections: the best of `rounds` runs of `seconds`,
 * after a warm-up (the machines are shared; the best run is the least disturbed one).
 */
async function requestsPerSecond(url, { headers = {}, seconds = 1.5, rounds = 3, concurrency = 32 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const one = () =>
    new Promise((resolve, reject) => {
      http
        .get(url, { agent, headers }, (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${res.statusCode}`)),
          );
        })
        .on('error', reject);
    });
  const run = async (ms) => {
    const end = performance.now() + ms;
    let done = 0;
    const worker = async () => {
      while (performance.now() < end) {
        await one();
        done++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    return done / ((performance.now() - start) / 1000);
  };
  await run(500);
  let top = 0;
  for (let r = 0; r < rounds; r++) top = Math.max(top, await run(seconds * 1000));
  agent.destroy();
  return top;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-bench-'));
  const { KeyRing, parseKey } = await import('../packages/config/dist/index.js');
  const { loadConfig } = await import('../packages/config/dist/client/index.js');
  const { Type } = await import('@sinclair/typebox');
  const { createLogger } = await import('../packages/core/dist/index.js');
  writeConfig(dir, new KeyRing([parseKey('k1', KEYS.k1, 'bench'), parseKey('k2', KEYS.k2, 'bench')], 'k2'));
  const flotilla = await startChild('flotilla', dir);
  const naive = await startChild('naive', dir);
  const rows = [];
  const compare = (name, ours, alternative, theirs) =>
    rows.push({
      case: name,
      'flotilla ops/s': ours,
      alternative,
      'alternative ops/s': theirs,
      ratio: theirs ? ours / theirs : '',
    });
  try {
    const base = `http://127.0.0.1:${flotilla.port}`;
    // Warm both servers up on every route first, so the first case measured is not the JIT's.
    for (const path of ['/v1/config/orders/prod?version=2.1.0', '/orders/prod', '/orders-prod.yml']) {
      await requestsPerSecond(`${base}${path}`, { seconds: 0.5, rounds: 1 });
    }
    const perRequest = await requestsPerSecond(`http://127.0.0.1:${naive.port}/config/orders/prod`);
    const alternative = 'fastify: read 4 YAML files + parse + merge per request';
    compare(
      'GET /v1/config/orders/prod?version=2.1.0 (anonymous)',
      await requestsPerSecond(`${base}/v1/config/orders/prod?version=2.1.0`),
      alternative,
      perRequest,
    );
    compare(
      'GET /v1/config/orders/prod?version=2.1.0 (token, 3 secrets decrypted)',
      await requestsPerSecond(`${base}/v1/config/orders/prod?version=2.1.0`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      }),
      alternative,
      perRequest,
    );
    compare(
      'GET /orders/prod (Spring Environment JSON)',
      await requestsPerSecond(`${base}/orders/prod`),
      alternative,
      perRequest,
    );
    compare(
      'GET /orders-prod.yml (Spring merged YAML)',
      await requestsPerSecond(`${base}/orders-prod.yml`),
      alternative,
      perRequest,
    );

    // Reading a value in the service: the applied config is a plain frozen object.
    const silent = createLogger({ service: 'bench', level: 'silent' });
    const Schema = Type.Object({ db: Type.Object({ pool: Type.Object({ size: Type.Integer() }) }) });
    const config = await loadConfig({
      service: 'orders',
      env: 'prod',
      version: '2.1.0',
      schema: Schema,
      url: base,
      token: TOKEN,
      cacheDir: false,
      logger: silent,
    });
    process.env.BENCH_DB_POOL_SIZE = '40';
    let sink = 0;
    compare(
      'config.value.db.pool.size (client)',
      await best(
        () => {
          sink += config.value.db.pool.size;
        },
        { iterations: 5_000_000 },
      ),
      'Number(process.env.DB_POOL_SIZE)',
      await best(
        () => {
          sink += Number(process.env.BENCH_DB_POOL_SIZE);
        },
        { iterations: 5_000_000 },
      ),
    );

    // Edit → change event at a running client (file watch debounce + push), 20 edits.
    const latencies = [];
    for (let i = 0; i < 20; i++) {
      const changed = new Promise((resolve) =>
        config.on('change', function once() {
          config.off('change', once);
          resolve();
        }),
      );
      const start = performance.now();
      const temp = join(dir, 'orders-prod.yaml.tmp');
      const data = parse(readFileSync(join(dir, 'orders-prod.yaml'), 'utf8'));
      data.db.pool.size = 41 + i;
      writeFileSync(temp, stringify(data));
      renameSync(temp, join(dir, 'orders-prod.yaml'));
      await changed;
      latencies.push(performance.now() - start);
    }
    latencies.sort((a, b) => a - b);
    rows.push({
      case: 'YAML edit → client change event, ms (median / p95 of 20)',
      'flotilla ops/s': `${latencies[9].toFixed(0)} / ${latencies[18].toFixed(0)} ms`,
      alternative: 'Spring Cloud Config: poll or Bus refresh',
      'alternative ops/s': '',
      ratio: '',
    });
    await config.close();
    if (sink === 0) console.log('');
  } finally {
    flotilla.child.kill('SIGTERM');
    naive.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
  console.log(`\nresults: ${saveResults('config', rows)}`);
}
