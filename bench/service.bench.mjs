// Service SDK: a typed service-to-service call (validation of the input, discovery, balancing,
// circuit breaker and retry policies, context headers, response check) next to a plain undici
// request to the same handler, over the same keep-alive connections budget. The service runs
// in a child process so the caller does not share its event loop.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, printTable, saveResults } from './lib.mjs';

const here = fileURLToPath(import.meta.url);
const CONCURRENCY = 32;
const ROUND_MS = 3_000;
const ROUNDS = Number(process.env.ROUNDS ?? 5);

if (process.argv[2] === 'serve') await serve(process.argv[3]);
else await main();

async function contract() {
  const { defineContract, endpoint } = await import('../packages/service/dist/index.js');
  const { Type } = await import('@sinclair/typebox');
  return defineContract({
    service: 'catalog',
    endpoints: {
      getTitle: endpoint({
        method: 'GET',
        path: '/titles/:id',
        params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
        query: Type.Object({ locale: Type.Optional(Type.String()) }),
        response: Type.Object({ id: Type.Integer(), name: Type.String(), year: Type.Integer() }),
      }),
    },
  });
}

/** Child process: the catalog service. */
async function serve(registryUrl) {
  const { createService } = await import('../packages/service/dist/index.js');
  const { createLogger } = await import('../packages/core/dist/index.js');
  const service = createService({
    name: 'catalog',
    contract: await contract(),
    logger: createLogger({ service: 'catalog', level: 'error' }),
    registryUrl,
    routes: { getTitle: ({ params }) => ({ id: params.id, name: 'Metropolis', year: 1927 }) },
  });
  await service.start();
  // Ends with the benchmark, however the benchmark ends.
  process.on('disconnect', () => process.exit(0));
  process.send({ url: service.url });
}

/** Requests per second of `call` over CONCURRENCY loops for ROUND_MS. */
async function throughput(call) {
  let done = 0;
  let running = true;
  const stop = setTimeout(() => {
    running = false;
  }, ROUND_MS);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (running) {
        await call();
        done++;
      }
    }),
  );
  clearTimeout(stop);
  return done / ((performance.now() - start) / 1_000);
}

async function main() {
  const { startRegistry } = await import('../packages/registry/dist/index.js');
  const { createLogger } = await import('../packages/core/dist/index.js');
  const { DiscoveryClient } = await import('../packages/discovery/dist/index.js');
  const { createClient } = await import('../packages/service/dist/index.js');
  const { Agent } = await import('undici');
  const quiet = createLogger({ service: 'bench', level: 'error' });
  const registry = await startRegistry({ port: 0, host: '127.0.0.1', logger: quiet });
  const child = fork(here, ['serve', registry.url], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: process.env.CHILD_PROF ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.CHILD_PROF] : [],
  });
  const { url } = await new Promise((resolve) => child.once('message', resolve));

  const discovery = new DiscoveryClient({ registryUrl: registry.url, services: ['catalog'], logger: quiet });
  await discovery.start();
  const typed = createClient(await contract(), {
    discovery,
    dispatcher: new Agent({ keepAliveTimeout: 4_000, connections: CONCURRENCY }),
  });
  const plainAgent = new Agent({ keepAliveTimeout: 4_000, connections: CONCURRENCY });
  const origin = new URL(url).origin;

  const plain = async () => {
    const response = await plainAgent.request({ origin, path: '/titles/7', method: 'GET' });
    if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
    await response.body.json();
  };
  const typedCall = async () => {
    await typed.getTitle({ params: { id: 7 } });
  };

  const runs = { plain: [], typed: [] };
  await throughput(plain);
  await throughput(typedCall);
  for (let r = 0; r < ROUNDS; r++) {
    runs.plain.push(await throughput(plain));
    runs.typed.push(await throughput(typedCall));
  }
  const plainRps = median(runs.plain);
  const typedRps = median(runs.typed);
  const rows = [
    { call: 'plain undici request', 'req/s (median)': plainRps, 'vs plain': 1 },
    {
      call: 'typed client (discovery + balancer + breaker + retry + validation)',
      'req/s (median)': typedRps,
      'vs plain': typedRps / plainRps,
    },
  ];
  printTable(rows);
  console.log(
    `\n${ROUNDS} alternating rounds of ${ROUND_MS / 1_000} s, ${CONCURRENCY} concurrent callers; goal ≥ 0.8× plain.`,
  );
  console.log(
    `rounds plain: ${runs.plain.map(Math.round).join(', ')}; typed: ${runs.typed.map(Math.round).join(', ')}`,
  );
  console.log(`saved ${saveResults('service', { rows, runs })}`);

  await typed.close();
  await plainAgent.close();
  await discovery.close();
  child.disconnect();
  await registry.close();
}
