// Bus over PostgreSQL: publish → consume throughput and end-to-end latency of @flotilla/bus with
// the bus-postgres adapter, next to two alternatives doing the same durable work in the same run
// and database: a hand-written `pg` SKIP LOCKED queue (one INSERT + NOTIFY per publish, a leased
// claim with UPDATE … FOR UPDATE SKIP LOCKED, one DELETE per acknowledgement) and pg-boss 10 in
// its own schema (one `send` per publish, `work` fetching batches with SKIP LOCKED, completion
// of each batch). pg-boss has no wake-up: its workers poll, at best every 0.5 s (its minimum
// `pollingIntervalSeconds`), and a worker waits out the interval after each batch it handled, so
// its throughput is bounded by batchSize / 0.5 s. It runs twice: with batchSize 16 (the same 16
// messages in flight as the others) and with batchSize 1000 (what a user tuning for throughput
// picks; up to 1000 in flight).
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import PgBoss from 'pg-boss';
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
/** Pings for pg-boss: each waits out a 0.5 s poll, so fewer give as stable a p50. */
const POLLED_PINGS = 40;
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

/** pg-boss 10 in schema `bench_pgboss`, dropped again on close. */
async function pgBossSystem(batchSize) {
  const schema = 'bench_pgboss';
  const queue = 'bench';
  const boss = new PgBoss({ connectionString: url, schema, max: 20 });
  boss.on('error', (error) => logger.error({ err: error }, 'pg-boss error'));
  await boss.start();
  await boss.createQueue(queue);
  const system = { onMessage: () => {} };
  // One worker at the minimum polling interval; the handler settles its batch concurrently and
  // pg-boss completes the whole batch when it resolves.
  await boss.work(queue, { batchSize, pollingIntervalSeconds: 0.5 }, (jobs) =>
    Promise.all(jobs.map((job) => system.onMessage(job.data.sentAt))),
  );
  system.publish = (sentAt) => boss.send(queue, { sentAt, body: 'x'.repeat(100) });
  system.close = async () => {
    await boss.stop({ graceful: true, wait: true, close: true });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  };
  return system;
}

const RAW = 'raw pg SKIP LOCKED queue';
const PG_BOSS = 'pg-boss 10, batchSize 1000';
const PG_BOSS_16 = `pg-boss 10, batchSize ${CONCURRENCY}`;
const rows = [];
try {
  // Alternate the systems over the rounds and keep each one's best, to damp the noise of the
  // other core and of autovacuum.
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    const systems = [
      [RAW, rawSystem, PINGS],
      ['@flotilla/bus + bus-postgres', flotillaSystem, PINGS],
      [PG_BOSS, () => pgBossSystem(1000), POLLED_PINGS],
    ];
    // Bound by its poll (16 messages per 0.5 s), so one round measures it; it takes minutes.
    if (round === 0) systems.push([PG_BOSS_16, () => pgBossSystem(CONCURRENCY), POLLED_PINGS]);
    for (const [name, make, pings] of systems) {
      const system = await make();
      await throughput(system, 500); // warm-up
      const load = await throughput(system, MESSAGES);
      const idle = await pingPong(system, pings);
      await system.close();
      const best = results[name];
      results[name] = {
        load: best && best.load.perSecond > load.perSecond ? best.load : load,
        idle: best && best.idle.p50 < idle.p50 ? best.idle : idle,
      };
    }
  }
  const raw = results[RAW];
  const boss = results[PG_BOSS];
  for (const [name, { load, idle }] of Object.entries(results)) {
    rows.push({
      case: name,
      'msg/s': load.perSecond,
      'ratio msg/s': load.perSecond / raw.load.perSecond,
      '× pg-boss msg/s': load.perSecond / boss.load.perSecond,
      'p50 ms (load)': load.p50,
      'p99 ms (load)': load.p99,
      'p50 ms (idle)': idle.p50,
      'p99 ms (idle)': idle.p99,
      'ratio p50 idle': idle.p50 / raw.idle.p50,
      '× pg-boss p50 idle': idle.p50 / boss.idle.p50,
    });
  }
} finally {
  await dropDatabase(serverUrl, database, { force: true });
}
console.log(
  `${MESSAGES} messages, ${PUBLISHERS} concurrent publishers, consumer concurrency ${CONCURRENCY}; idle = one at a time (${PINGS}, pg-boss ${POLLED_PINGS}); best of ${ROUNDS} alternating rounds (${PG_BOSS_16}: 1); ratio = ÷ raw, × pg-boss = ÷ ${PG_BOSS} (polls every 0.5 s)\n`,
);
// Ratios to pg-boss's idle latency are small: print two significant digits rather than 0.00.
printTable(rows.map((row) => ({ ...row, '× pg-boss p50 idle': row['× pg-boss p50 idle'].toPrecision(2) })));
console.log(`\nresults: ${saveResults('bus', rows)}`);
