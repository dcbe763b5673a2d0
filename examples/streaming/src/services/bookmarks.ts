import { NotFoundError } from '@flotilla/core';
import { createService } from '@flotilla/service';
import { bookmarks } from '../contracts/bookmarks.js';
import { migrationsOf, type ServiceOverrides } from './overrides.js';

interface BookmarkRow {
  user_id: string;
  title_id: string;
  position_seconds: number;
  updated_at: Date;
}

const toBookmark = (row: BookmarkRow) => ({
  userId: row.user_id,
  titleId: row.title_id,
  positionSeconds: row.position_seconds,
  updatedAt: row.updated_at.toISOString(),
});

/** Resume positions: one row per user and title, last write wins. */
export function createBookmarksService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'bookmarks',
    version: '1.0.0',
    contract: bookmarks,
    database: { migrations: migrationsOf('bookmarks') },
    routes: {
      get: async ({ params }, ctx) => {
        const { rows } = await ctx.db.query<BookmarkRow>(
          'SELECT * FROM bookmarks WHERE user_id = $1 AND title_id = $2',
          [params.userId, params.titleId],
        );
        if (!rows[0]) throw new NotFoundError(`No bookmark of ${params.userId} for ${params.titleId}`);
        return toBookmark(rows[0]);
      },
      put: async ({ params, body }, ctx) => {
        const { rows } = await ctx.db.query<BookmarkRow>(
          `INSERT INTO bookmarks (user_id, title_id, position_seconds) VALUES ($1, $2, $3)
           ON CONFLICT (user_id, title_id)
           DO UPDATE SET position_seconds = excluded.position_seconds, updated_at = now()
           RETURNING *`,
          [params.userId, params.titleId, body.positionSeconds],
        );
        return toBookmark(rows[0] as BookmarkRow);
      },
    },
    ...overrides,
  });
}
