import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBus, createOutbox, defineMessage, migrateOutboxInbox } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type ProcessGroup, type ProcessHandle, test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import { createPostgresAdapter } from './adapter.js';

/** The issue asks for 20,000; `npm test` runs fewer to stay quick (set the variable to run more). */
const MESSAGES = Number(process.env.FLOTILLA_BUS_KILL_MESSAGES ?? 3000);
const CONSUMERS = 3;
const RELAYS = 2;
/** Chance, at each of three points per message, that a consumer SIGKILLs itself. */
const SELF_KILL_RATE = Number(process.env.FLOTILLA_BUS_KILL_RATE ?? 0.002);
/** How often the test SIGKILLs a random consumer or relay (0: never). */
const KILL_INTERVAL_MS = Number(process.env.FLOTILLA_BUS_KILL_INTERVAL_MS ?? 1000);

const Item = defineMessage('kill.item', Type.Object({ n: Type.Integer() }), { topic: 'kill.items' });
const logger = createLogger({ service: 'kill-test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** The spawned processes import dist/: refuse to test a build older than the sources. */
function assertBuilt(pkg: string): void {
  const root = fileURLToPath(new URL(`../../${pkg}/`, import.meta.url));
  let built = 0;
  try {
    built = statSync(join(root, 'tsconfig.tsbuildinfo')).mtimeMs;
  } catch {}
  const newest = (dir: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory()
          ? newest(join(dir, e.name))
          : e.name.endsWith('.test.ts')
            ? 0
            : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  if (newest(join(root, 'src')) > built) {
    throw new Error(`packages/${pkg}/dist is older than its sources: run npx tsc -b packages/bus-postgres`);
  }
}

/** Keeps `count` copies of a process running: whatever dies is started again. */
function supervise(processes: ProcessGroup, name: string, count: number, env: Record<string, string>) {
  const slots: ProcessHandle[] = [];
  let restarts = 0;
  const start = (i: number) => {
    slots[i] = processes.spawn({
      name: `${name}-${i}`,
      command: process.execPath,
      args: [fixture(`${name}.mjs`)],
      env,
    });
  };
  for (let i = 0; i < count; i++) start(i);
  const timer = setInterval(() => {
    for (let i = 0; i < count; i++) {
      if (slots[i]?.running === false) {
        restarts++;
        start(i);
      }
    }
  }, 50);
  return {
    slots,
    get restarts() {
      return restarts;
    },
    stop: () => clearInterval(timer),
  };
}

describe('kill -9 during outbox → postgres bus → inbox', () => {
  test(`applies each of ${MESSAGES} messages exactly once while consumers and relays are killed`, {
    timeout: 600_000,
  }, async ({ postgres, processes }) => {
    assertBuilt('bus');
    assertBuilt('bus-postgres');
    const bus = await createBus({
      adapter: createPostgresAdapter({ url: postgres.url, logger }),
      service: 'kill-test',
      logger,
    });
    await bus.declare(Item, { group: 'kill-consumer' });
    await bus.close();
    await migrateOutboxInbox({ pool: postgres.pool });
    await postgres.pool.query('CREATE TABLE effects (n integer NOT NULL, message_id text NOT NULL)');

    const env = {
      KILL_DATABASE_URL: postgres.url,
      KILL_RATE: String(SELF_KILL_RATE),
      FLOTILLA_LOG_LEVEL: 'error',
    };
    const consumers = supervise(processes, 'kill-consumer', CONSUMERS, env);
    const relays = supervise(processes, 'kill-relay', RELAYS, env);
    let externalKills = 0;
    const killer = setInterval(() => {
      if (KILL_INTERVAL_MS === 0) return;
      const pool = Math.random() < 0.2 ? relays.slots : consumers.slots;
      const victim = pool[Math.floor(Math.random() * pool.length)];
      if (victim?.running) {
        externalKills++;
        void victim.kill9();
      }
    }, KILL_INTERVAL_MS || 1000);

    const started = Date.now();
    const applied = async () =>
      (await postgres.pool.query<{ n: number }>('SELECT count(DISTINCT n)::int AS n FROM effects')).rows[0]
        ?.n ?? 0;
    try {
      const outbox = createOutbox();
      const client = await postgres.pool.connect();
      try {
        for (let start = 0; start < MESSAGES; start += 100) {
          await client.query('BEGIN');
          for (let n = start; n < Math.min(start + 100, MESSAGES); n++)
            await outbox.publish(client, Item, { n });
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
      await waitFor(async () => (await applied()) === MESSAGES, `${MESSAGES} effects applied`, 300_000);
    } finally {
      clearInterval(killer);
      consumers.stop();
      relays.stop();
    }
    const { rows: duplicates } = await postgres.pool.query(
      'SELECT n, count(*)::int AS times FROM effects GROUP BY n HAVING count(*) > 1 LIMIT 10',
    );
    const { rows: totals } = await postgres.pool.query<{
      effects: number;
      dead: number;
      unpublished: number;
    }>(
      `SELECT (SELECT count(*)::int FROM effects) AS effects,
              (SELECT count(*)::int FROM flotilla_bus_dead_letters) AS dead,
              (SELECT count(*)::int FROM flotilla_outbox WHERE published_at IS NULL) AS unpublished`,
    );
    const crashes = consumers.restarts + relays.restarts;
    console.log(
      `[kill test] ${MESSAGES} messages, ${crashes} processes killed (${externalKills} by the test, the rest by themselves), ${Date.now() - started} ms`,
    );
    expect(duplicates).toEqual([]);
    expect(totals[0]).toEqual({ effects: MESSAGES, dead: 0, unpublished: 0 });
    expect(crashes).toBeGreaterThan(0);
  });
});
