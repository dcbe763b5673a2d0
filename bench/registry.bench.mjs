// Registry: how fast a change reaches a watcher (memory store, and across two replicas sharing
// PostgreSQL), and what 10,000 instances renewing every 10 s with 50 watchers cost one registry
// process. The registry runs in child processes (this file with --serve), as in production.
import { fork } from 'node:child_process';
import http from 'node:http';
import { connect } from 'node:net';
import { printTable, saveResults } from './lib.mjs';

/** Child: a registry on `store`, reporting its port, CPU and memory over IPC. */
async function serve(store, nodeId) {
  const { startRegistry } = await import('../packages/registry/dist/index.js');
  const { createLogger } = await import('../packages/core/dist/index.js');
  const running = await startRegistry({
    port: 0,
    host: '127.0.0.1',
    store,
    nodeId,
    logger: createLogger({ service: 'registry', level: 'warn' }),
  });
  process.on('message', async (message) => {
    if (message === 'usage') {
      globalThis.gc?.();
      process.send({
        cpu: process.cpuUsage(),
        time: Number(process.hrtime.bigint() / 1000n),
        memory: process.memoryUsage(),
      });
    } else if (message === 'stop') {
      await running.close();
      process.exit(0);
    }
  });
  process.send({ port: running.port });
}

function startChild(store, nodeId) {
  const child = fork(new URL(import.meta.url).pathname, ['--serve', store, nodeId], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () => new Promise((resolve) => child.once('message', resolve));
  return {
    ready: next().then((m) => m.port),
    usage: () => {
      const answer = next();
      child.send('usage');
      return answer;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.send('stop');
      }),
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(port, method, path, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** A watch stream; `onEvent(name, data)` for each event. */
function watch(port, query, onEvent) {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: `/v1/watch${query}`, headers: { accept: 'text/event-stream' } },
      (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = 'message';
            let data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) event = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (data) onEvent(event, data);
          }
        });
        resolve({ close: () => req.destroy() });
      },
    );
    req.on('error', reject);
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Register → watcher sees it, deregister → watcher sees it, `rounds` times; latencies in ms. */
async function propagation(writePort, watchPort, rounds, label) {
  const pending = new Map();
  const stream = await watch(watchPort, '?service=bench-propagation', (event, data) => {
    const id = JSON.parse(data).instance?.instanceId;
    const waiter = pending.get(`${event}:${id}`);
    if (waiter) {
      pending.delete(`${event}:${id}`);
      waiter(performance.now());
    }
  });
  const seen = (event, id) => new Promise((resolve) => pending.set(`${event}:${id}`, resolve));
  const register = [];
  const deregister = [];
  for (let i = 0; i < rounds; i++) {
    const id = `p-${i}`;
    let arrived = seen('registered', id);
    let start = performance.now();
    await request(writePort, 'POST', '/v1/services/bench-propagation/instances', {
      instanceId: id,
      host: '10.0.0.1',
      port: 8080,
    });
    register.push((await arrived) - start);
    arrived = seen('deregistered', id);
    start = performance.now();
    await request(writePort, 'DELETE', `/v1/services/bench-propagation/instances/${id}`);
    deregister.push((await arrived) - start);
  }
  stream.close();
  const rows = [];
  for (const [what, list] of [
    ['register', register],
    ['deregister', deregister],
  ]) {
    const sorted = list.slice(rounds / 10).sort((a, b) => a - b); // first 10 % is warm-up
    rows.push({
      case: `${what} → watcher sees it (${label})`,
      'p50 ms': percentile(sorted, 50),
      'p99 ms': percentile(sorted, 99),
      'max ms': sorted.at(-1),
      eureka: 'up to ~120 s (stacked 30 s caches + registration delay; not run here)',
    });
  }
  return rows;
}

/** A fresh database for the replicas, or undefined when no PostgreSQL answers. */
async function postgresUrl() {
  const server = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const { hostname, port } = new URL(server);
  const reachable = await new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 5432), timeout: 500 });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.on('connect', () => done(true));
    socket.on('error', () => done(false));
    socket.on('timeout', () => done(false));
  });
  if (!reachable) return undefined;
  const { dropDatabase, ensureDatabase } = await import('../packages/postgres/dist/index.js');
  await dropDatabase(server, 'flotilla_bench_registry', { force: true }).catch(() => {});
  return ensureDatabase(server, 'flotilla_bench_registry');
}

/** 10,000 instances renewing every 10 s and 50 watchers on one registry, measured over `seconds`. */
async function scale(instances, watchers, seconds) {
  const registry = startChild('memory', 'scale');
  const port = await registry.ready;
  const ids = Array.from({ length: instances }, (_, i) => `s-${i}`);
  for (let i = 0; i < ids.length; i += 200) {
    await Promise.all(
      ids.slice(i, i + 200).map((id) =>
        request(port, 'POST', `/v1/services/svc-${Number(id.slice(2)) % 100}/instances`, {
          instanceId: id,
          host: '10.0.0.1',
          port: 8080,
        }),
      ),
    );
  }
  let events = 0;
  const streams = [];
  for (let w = 0; w < watchers; w++) streams.push(await watch(port, '', () => events++));

  // Each instance renews every 10 s, spread evenly: 1,000 renewals/s. A few changes per second
  // (metadata updates) go out to every watcher.
  const perTick = instances / 10 / 100; // every 10 ms
  let next = 0;
  let ok = 0;
  let failed = 0;
  let churn = 0;
  const latencies = [];
  const tick = setInterval(() => {
    for (let k = 0; k < perTick; k++) {
      const id = ids[next++ % ids.length];
      const start = performance.now();
      request(port, 'PUT', `/v1/services/svc-${Number(id.slice(2)) % 100}/instances/${id}/heartbeat`).then(
        (status) => {
          if (status === 200) ok++;
          else failed++;
          latencies.push(performance.now() - start);
        },
        () => failed++,
      );
    }
  }, 10);
  const churner = setInterval(() => {
    churn++;
    request(port, 'PATCH', '/v1/services/svc-1/instances/s-1/metadata', { tick: String(churn) });
  }, 200);

  await new Promise((resolve) => setTimeout(resolve, 5_000)); // warm-up
  const before = await registry.usage();
  const okBefore = ok;
  const eventsBefore = events;
  latencies.length = 0;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  const after = await registry.usage();
  clearInterval(tick);
  clearInterval(churner);
  const wallUs = after.time - before.time;
  const cpuUs = after.cpu.user - before.cpu.user + (after.cpu.system - before.cpu.system);
  const sorted = latencies.sort((a, b) => a - b);
  for (const s of streams) s.close();
  await registry.stop();
  return {
    case: `${instances.toLocaleString('en-US')} instances renewing every 10 s, ${watchers} watchers, ${seconds} s`,
    'renewals/s': (ok - okBefore) / (wallUs / 1e6),
    'failed renewals': failed,
    'CPU (fraction of one core)': cpuUs / wallUs,
    'RSS MB': after.memory.rss / 1048576,
    'heap MB': after.memory.heapUsed / 1048576,
    'renew p50 ms': percentile(sorted, 50),
    'renew p99 ms': percentile(sorted, 99),
    'watch events delivered/s': (events - eventsBefore) / (wallUs / 1e6),
    goal: '< 0.25 core',
  };
}

async function main() {
  const rows = [];
  const memory = startChild('memory', 'propagation');
  const port = await memory.ready;
  rows.push(...(await propagation(port, port, 400, 'memory store, same process')));
  await memory.stop();
  console.log('propagation (memory): done');

  const url = await postgresUrl().catch((error) => {
    console.log(`PostgreSQL database for the bench: ${error.message}`);
    return undefined;
  });
  if (url) {
    const a = startChild(url, 'replica-a');
    const portA = await a.ready;
    const b = startChild(url, 'replica-b');
    const portB = await b.ready;
    rows.push(
      ...(await propagation(portA, portB, 400, 'PostgreSQL, written to replica A, watched on replica B')),
    );
    await a.stop();
    await b.stop();
  } else {
    console.log('PostgreSQL not reachable: skipping the cross-replica propagation case');
  }
  printTable(rows, ['case', 'p50 ms', 'p99 ms', 'max ms', 'eureka']);

  console.log('');
  const load = await scale(10_000, 50, 20);
  printTable([load], Object.keys(load));
  console.log(`\nresults: ${saveResults('registry', { propagation: rows, scale: load })}`);
  agent.destroy();
}

if (process.argv[2] === '--serve') await serve(process.argv[3], process.argv[4]);
else await main();
