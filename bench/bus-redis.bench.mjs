// Bus over Redis Streams: publish → consume throughput and end-to-end latency of @flotilla/bus with
// the bus-redis adapter, next to hand-written ioredis doing the same work in the same run and
// server: XADD (MAXLEN ~) per publish, a blocking XREADGROUP on a dedicated connection, XACK
// after the handler.
import { Type } from '@sinclair/typebox';
import { Redis } from 'ioredis';
import { createBus, defineMessage } from '../packages/bus/dist/index.js';
import { createRedisAdapter } from '../packages/bus-redis/dist/index.js';
import { createLogger } from '../packages/core/dist/index.js';
import { PUBLISHERS, pingPong, throughput } from './bus-lib.mjs';
import { printTable, saveResults } from './lib.mjs';

const url = process.env.FLOTILLA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// Redis moves 30–50 k messages a second here: 5,000 is over in ~0.15 s and noise decides the ratio.
const MESSAGES = Number(process.env.BUS_BENCH_MESSAGES ?? 40_000);
const CONCURRENCY = 16;
const PINGS = 300;
const ROUNDS = 2;
const logger = createLogger({ service: 'bench', level: 'error' });
const prefix = `bench:bus-redis:${process.pid}:`;

async function flotillaSystem(round) {
  const Tick = defineMessage('bench.tick', Type.Object({ sentAt: Type.Number(), body: Type.String() }), {
    topic: `tick${round}`,
  });
  const bus = await createBus({
    adapter: createRedisAdapter({ url, keyPrefix: prefix, logger }),
    service: 'bench',
    logger,
  });
  const system = { onMessage: () => {} };
  await bus.subscribe(Tick, { concurrency: CONCURRENCY }, ({ payload }) => system.onMessage(payload.sentAt));
  system.publish = (sentAt) => bus.publish(Tick, { sentAt, body: 'x'.repeat(100) }, { key: 'k' });
  system.close = () => bus.close();
  return system;
}

async function rawSystem(round) {
  const stream = `${prefix}raw${round}`;
  const redis = new Redis(url, { enableAutoPipelining: true });
  const reader = new Redis(url);
  await redis.xgroup('CREATE', stream, 'bench', '$', 'MKSTREAM');
  const system = { onMessage: () => {} };
  let inFlight = 0;
  let running = true;
  let freed = () => {};
  const loop = (async () => {
    while (running) {
      const free = CONCURRENCY - inFlight;
      if (free === 0) {
        await new Promise((resolve) => {
          freed = resolve;
        });
        continue;
      }
      const reply = await reader.xreadgroup(
        'GROUP',
        'bench',
        'c1',
        'COUNT',
        free,
        'BLOCK',
        200,
        'STREAMS',
        stream,
        '>',
      );
      for (const [, entries] of reply ?? []) {
        for (const [id, fields] of entries) {
          inFlight++;
          const body = JSON.parse(fields[3]);
          Promise.resolve(system.onMessage(body.sentAt))
            .then(() => redis.xack(stream, 'bench', id))
            .finally(() => {
              inFlight--;
              freed();
            });
        }
      }
    }
  })();
  system.publish = (sentAt) =>
    redis.xadd(
      stream,
      'MAXLEN',
      '~',
      1_000_000,
      '*',
      'e',
      JSON.stringify({ type: 'bench.tick', key: 'k' }),
      'p',
      JSON.stringify({ sentAt, body: 'x'.repeat(100) }),
    );
  system.close = async () => {
    running = false;
    freed();
    await loop;
    reader.disconnect();
    await redis.quit();
  };
  return system;
}

const rows = [];
const cleanup = new Redis(url);
try {
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of [
      ['raw ioredis XADD/XREADGROUP/XACK', rawSystem],
      ['@flotilla/bus + bus-redis', flotillaSystem],
    ]) {
      const system = await make(round);
      await throughput(system, 500); // warm-up
      const load = await throughput(system, MESSAGES);
      const idle = await pingPong(system, PINGS);
      await system.close();
      const best = results[name];
      results[name] = {
        load: best && best.load.perSecond > load.perSecond ? best.load : load,
        idle: best && best.idle.p50 < idle.p50 ? best.idle : idle,
      };
    }
  }
  const raw = results['raw ioredis XADD/XREADGROUP/XACK'];
  for (const [name, { load, idle }] of Object.entries(results)) {
    rows.push({
      case: name,
      'msg/s': load.perSecond,
      'ratio msg/s': load.perSecond / raw.load.perSecond,
      'p50 ms (load)': load.p50,
      'p99 ms (load)': load.p99,
      'p50 ms (idle)': idle.p50,
      'p99 ms (idle)': idle.p99,
      'ratio p50 idle': idle.p50 / raw.idle.p50,
    });
  }
} finally {
  const keys = await cleanup.keys(`${prefix}*`);
  if (keys.length > 0) await cleanup.unlink(...keys);
  cleanup.disconnect();
}
console.log(
  `${MESSAGES} messages, ${PUBLISHERS} concurrent publishers, consumer concurrency ${CONCURRENCY}; idle = one at a time (${PINGS}); best of ${ROUNDS} alternating rounds\n`,
);
printTable(rows);
console.log(`\nresults: ${saveResults('bus-redis', rows)}`);
