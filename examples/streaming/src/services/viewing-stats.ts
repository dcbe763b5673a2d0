import { createService, on } from '@flotilla/service';
import { viewingStats } from '../contracts/viewing-stats.js';
import { PlayStarted } from '../messages.js';
import { migrationsOf, type ServiceOverrides } from './overrides.js';

/**
 * The stream processor: one consumer group on the plays topic (its instances share the work),
 * folding each play into windowed per-title counts and per-user "continue watching", and a
 * small read API over both.
 */
export function createViewingStatsService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'viewing-stats',
    version: '1.0.0',
    contract: viewingStats,
    database: { migrations: migrationsOf('viewing-stats') },
    bus: true,
    events: [
      on(PlayStarted, { idempotent: true, concurrency: 8 }, async ({ payload }, ctx) => {
        const startedAt = new Date(payload.startedAt);
        await ctx.tx.query(
          `INSERT INTO title_plays_per_minute (title_id, window_start, plays)
           VALUES ($1, date_trunc('minute', $2::timestamptz), 1)
           ON CONFLICT (title_id, window_start) DO UPDATE SET plays = title_plays_per_minute.plays + 1`,
          [payload.titleId, startedAt],
        );
        // Deliveries are not in event-time order (retries, several consumers): the latest play
        // wins by when it happened, not by when it arrived.
        await ctx.tx.query(
          `INSERT INTO continue_watching (user_id, title_id, position_seconds, last_played_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (user_id, title_id) DO UPDATE
             SET position_seconds = excluded.position_seconds, last_played_at = excluded.last_played_at
             WHERE continue_watching.last_played_at <= excluded.last_played_at`,
          [payload.userId, payload.titleId, payload.positionSeconds, startedAt],
        );
      }),
    ],
    routes: {
      trending: async ({ query }, ctx) => {
        const minutes = query.minutes ?? 60;
        // The last `minutes` windows, the current (still open) one included.
        const { rows } = await ctx.db.query<{ title_id: string; plays: number }>(
          `SELECT title_id, sum(plays)::int AS plays FROM title_plays_per_minute
            WHERE window_start >= date_trunc('minute', now()) - make_interval(mins => $1 - 1)
            GROUP BY title_id ORDER BY plays DESC, title_id LIMIT $2`,
          [minutes, query.limit ?? 10],
        );
        return { minutes, titles: rows.map((r) => ({ titleId: r.title_id, plays: r.plays })) };
      },
      continueWatching: async ({ params, query }, ctx) => {
        const { rows } = await ctx.db.query<{
          title_id: string;
          position_seconds: number;
          last_played_at: Date;
        }>(
          `SELECT title_id, position_seconds, last_played_at FROM continue_watching
            WHERE user_id = $1 ORDER BY last_played_at DESC LIMIT $2`,
          [params.userId, query.limit ?? 10],
        );
        return {
          userId: params.userId,
          titles: rows.map((r) => ({
            titleId: r.title_id,
            positionSeconds: r.position_seconds,
            lastPlayedAt: r.last_played_at.toISOString(),
          })),
        };
      },
    },
    ...overrides,
  });
}
