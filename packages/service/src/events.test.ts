import { defineMessage } from '@flotilla/bus';
import { dropDatabase } from '@flotilla/postgres';
import { eventually, type PostgresResource, usePostgres } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineContract, endpoint } from './contract.js';
import { on } from './events.js';
import { createService, type Service } from './service.js';
import { startTestService } from './testing/index.js';

const PlayStarted = defineMessage(
  'play.started',
  Type.Object({ userId: Type.String(), titleId: Type.String() }),
  { topic: 'plays' },
);

const playApi = defineContract({
  service: 'play-api',
  endpoints: {
    play: endpoint({
      method: 'POST',
      path: '/plays',
      body: Type.Object({
        userId: Type.String(),
        titleId: Type.String(),
        fail: Type.Optional(Type.Boolean()),
      }),
      response: Type.Object({ playId: Type.Integer() }),
      status: 201,
    }),
  },
});

let bus: PostgresResource;
let server: PostgresResource;
const databases: string[] = [];
beforeAll(async () => {
  bus = await usePostgres();
  server = await usePostgres();
});
afterAll(async () => {
  for (const db of databases) await dropDatabase(server.serverUrl, db, { force: true }).catch(() => {});
  await bus?.release();
  await server?.release();
});

function env(db: string) {
  databases.push(db);
  return { FLOTILLA_BUS_URL: bus.url, FLOTILLA_POSTGRES_URL: server.serverUrl };
}

const suffix = Date.now().toString(36);

function playService(): Service {
  return createService({
    name: 'play-api',
    contract: playApi,
    bus: true,
    database: { name: `plays_${suffix}` },
    env: env(`plays_${suffix}`),
    onStart: async (service) => {
      await service.db.query(
        'CREATE TABLE IF NOT EXISTS plays (id serial PRIMARY KEY, user_id text, title_id text)',
      );
    },
    routes: {
      play: async ({ body }, ctx) =>
        ctx.transaction(async (tx) => {
          const { rows } = await tx.query<{ id: number }>(
            'INSERT INTO plays (user_id, title_id) VALUES ($1, $2) RETURNING id',
            [body.userId, body.titleId],
          );
          await tx.publish(
            PlayStarted,
            { userId: body.userId, titleId: body.titleId },
            { key: body.titleId },
          );
          // A failure after publishing rolls the message back with the row.
          if (body.fail) throw new Error('boom after publish');
          return { playId: rows[0]?.id as number };
        }),
    },
  }) as unknown as Service;
}

function statsService(seen: { requestIds: string[] }): Service {
  return createService({
    name: 'viewing-stats',
    bus: true,
    database: { name: `stats_${suffix}` },
    env: env(`stats_${suffix}`),
    onStart: async (service) => {
      await service.db.query(
        'CREATE TABLE IF NOT EXISTS counts (title_id text PRIMARY KEY, plays int NOT NULL)',
      );
    },
    events: [
      on(PlayStarted, { idempotent: true, concurrency: 4 }, async (message, ctx) => {
        seen.requestIds.push(ctx.requestId);
        await ctx.tx.query(
          `INSERT INTO counts VALUES ($1, 1) ON CONFLICT (title_id) DO UPDATE SET plays = counts.plays + 1`,
          [message.payload.titleId],
        );
      }),
    ],
  }) as unknown as Service;
}

describe('a service on the bus', () => {
  it('publishes through the outbox with its transaction, and a subscriber counts each message once', async () => {
    const seen = { requestIds: [] as string[] };
    const plays = await startTestService(playService(), { registryUrl: false });
    const stats = await startTestService(statsService(seen), { registryUrl: false });
    try {
      const count = async (title: string) =>
        (await stats.db.query('SELECT plays FROM counts WHERE title_id = $1', [title])).rows[0]?.plays ?? 0;
      for (let i = 0; i < 3; i++) {
        const response = await fetch(`${plays.url}/plays`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': `req-${i}` },
          body: JSON.stringify({ userId: 'alice', titleId: 'tt1' }),
        });
        expect(response.status).toBe(201);
      }
      const failed = await fetch(`${plays.url}/plays`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'bob', titleId: 'tt2', fail: true }),
      });
      expect(failed.status).toBe(500);
      await eventually(async () => expect(await count('tt1')).toBe(3));
      // The message of the failed request was rolled back with its row.
      expect(await count('tt2')).toBe(0);
      expect((await plays.db.query('SELECT count(*)::int AS n FROM plays')).rows[0].n).toBe(3);
      // The handler saw the HTTP request's id as the message's correlation.
      expect(seen.requestIds.sort()).toEqual(['req-0', 'req-1', 'req-2']);

      // The same message delivered again (same messageId) is acknowledged, not counted again.
      const { rows } = await plays.db.query<{ envelope: { messageId: string } }>(
        'SELECT envelope FROM flotilla_outbox ORDER BY id LIMIT 1',
      );
      const messageId = rows[0]?.envelope.messageId as string;
      await plays.bus.publish(PlayStarted, { userId: 'alice', titleId: 'tt1' }, { messageId });
      await plays.bus.publish(PlayStarted, { userId: 'carol', titleId: 'tt3' });
      await eventually(async () => expect(await count('tt3')).toBe(1));
      expect(await count('tt1')).toBe(3);
    } finally {
      await stats.stop();
      await plays.stop();
    }
  });

  it('refuses event handlers without a bus, naming the fix', () => {
    expect(() => createService({ name: 'nobus', events: [on(PlayStarted, {}, () => {})] })).toThrow(
      /has event handlers but no bus \(createService\(\{ bus: true \}\)\)/,
    );
  });
});
