// Bus over PostgreSQL: publish → consume throughput and end-to-end latency of @flotilla/bus with
// the bus-postgres adapter, next to a hand-written `pg` SKIP LOCKED queue doing the same durable
// work in the same run and database: one INSERT (+ NOTIFY) per publish, a leased claim
// (UPDATE … FOR UPDATE SKIP LOCKED), one DELETE per acknowledgement. pg-boss, the usual
// comparison, needs Node 22 and cannot be installed here.
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import { createBus, defineMessage } from '../packages/bus/dist/index.js';
import { createPostgresAdapter } from '../packages/bus-postgres/dist/index.js';
import { createLogger } from '../packages/core/dist/index.js';
import { dropDatabase, ensureDatabase } from '../packages/postgres/dist/index.js';
import { PUBLISHERS, pingPong, throughput } from './bus-lib.mjs';
import { printTable, saveResults } from './lib.mjs';

const serverUrl =
  process.env.FLOTILLA_TEST_POSTGRES_URL ??
  process.env.DATABASE_URL ??
  'postgres://postgres@127.0.0.1:5432/postgres';
const MESSAGES = Number(process.env.BUS_BENCH_MESSAGES ?? 5000);
const CONCURRENCY = 16;
const PINGS = 300;
const ROUNDS = 2;
const logger = createLogger({ service: 'bench', level: 'error' });

const database = `bench_bus_${process.pid}`;
const url = await ensureDatabase(serverUrl, database);

async function flotillaSystem() {
  const Tick = defineMessage('bench.tick', Type.Object({ sentAt: Type.Number(), body: Type.String() }));
  const bus = await createBus({
    adapter: createPostgresAdapter({ url, logger, maxConnections: 20 }),
    service: 'bench',
    logger,
  });
  const system = { onMessage: () => {} };
  await bus.subscribe(Tick, { concurrency: CONCURRENCY }, ({ payload }) => system.onMessage(payload.sentAt));
  system.publish = (sentAt) => bus.publish(Tick, { sentAt, body: 'x'.repeat(100) }, { key: 'k' });
  system.close = () => bus.close();
  return system;
}

async function rawSystem() {
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  await pool.query(`CREATE TABLE IF NOT EXISTS raw_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, topic text NOT NULL, body jsonb NOT NULL,
    attempts int NOT NULL DEFAULT 0, visible_at timestamptz NOT NULL DEFAULT now(), claim_id uuid)
    WITH (fillfactor = 70)`);
  await pool.query('CREATE INDEX IF NOT EXISTS raw_queue_claim ON raw_queue (topic, id)');
  const listener = new pg.Client({ connectionString: url });
  await listener.connect();
  await listener.query('LISTEN raw_queue');
  const system = { onMessage: () => {} };
  let inFlight = 0;
  let running = true;
  let wake = () => {};
  let woken = false;
  const signal = () => {
    woken = true;
    wake();
  };
  listener.on('notification', signal);
  const loop = (async () => {
    while (running) {
      const free = CONCURRENCY - inFlight;
      if (free > 0) {
        const { rows } = await pool.query(
          `WITH next AS (SELECT id FROM raw_queue WHERE topic = $1 AND visible_at <= now() ORDER BY id LIMIT $2
             FOR UPDATE SKIP LOCKED)
           UPDATE raw_queue q SET visible_at = now() + interval '30 seconds', attempts = q.attempts + 1,
             claim_id = gen_random_uuid() FROM next WHERE q.id = next.id RETURNING q.id, q.body, q.claim_id`,
          ['bench', free],
        );
        for (const row of rows) {
          inFlight++;
          Promise.resolve(system.onMessage(row.body.payload.sentAt))
            .then(() =>
              pool.query('DELETE FROM raw_queue WHERE id = $1 AND claim_id = $2', [row.id, row.claim_id]),
            )
            .finally(() => {
              inFlight--;
              signal();
            });
        }
        if (rows.length === free) continue;
      }
      if (!woken)
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, 1000);
        });
      woken = false;
    }
  })();
  system.publish = (sentAt) =>
    pool.query(
      `WITH r AS (INSERT INTO raw_queue (topic, body) VALUES ($1, $2) RETURNING topic)
       SELECT pg_notify('raw_queue', topic) FROM r`,
      [
        'bench',
        JSON.stringify({
          envelope: { type: 'bench.tick', key: 'k' },
          payload: { sentAt, body: 'x'.repeat(100) },
        }),
      ],
    );
  system.close = async () => {
    running = false;
    signal();
    await loop;
    await listener.end();
    await pool.end();
  };
  return system;
}

const rows = [];
try {
  // Alternate the two systems over the rounds and keep each one's best, to damp the noise of
  // the other core and of autovacuum.
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of [
      ['raw pg SKIP LOCKED queue', rawSystem],
      ['@flotilla/bus + bus-postgres', flotillaSystem],
    ]) {
      const system = await make();
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
  const raw = results['raw pg SKIP LOCKED queue'];
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
  await dropDatabase(serverUrl, database, { force: true });
}
console.log(
  `${MESSAGES} messages, ${PUBLISHERS} concurrent publishers, consumer concurrency ${CONCURRENCY}; idle = one at a time (${PINGS}); best of ${ROUNDS} alternating rounds\n`,
);
printTable(rows);
console.log(`\nresults: ${saveResults('bus', rows)}`);
