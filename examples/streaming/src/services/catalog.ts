import { NotFoundError } from '@flotilla/core';
import { createService } from '@flotilla/service';
import { catalog } from '../contracts/catalog.js';
import { migrationsOf, type ServiceOverrides } from './overrides.js';

interface TitleRow {
  title_id: string;
  name: string;
  year: number;
  kind: 'movie' | 'series';
  genres: string[];
  maturity_rating: string;
  duration_seconds: number;
}

const COLUMNS = 'title_id, name, year, kind, genres, maturity_rating, duration_seconds';

const toTitle = (row: TitleRow) => ({
  titleId: row.title_id,
  name: row.name,
  year: row.year,
  kind: row.kind,
  genres: row.genres,
  maturityRating: row.maturity_rating,
  durationSeconds: row.duration_seconds,
});

/** Title metadata, read-only (seeded by its migration). */
export function createCatalogService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'catalog',
    version: '1.0.0',
    contract: catalog,
    database: { migrations: migrationsOf('catalog') },
    routes: {
      title: async ({ params }, ctx) => {
        const { rows } = await ctx.db.query<TitleRow>(`SELECT ${COLUMNS} FROM titles WHERE title_id = $1`, [
          params.titleId,
        ]);
        if (!rows[0])
          throw new NotFoundError(`No title ${params.titleId}`, { data: { titleId: params.titleId } });
        return toTitle(rows[0]);
      },
      titles: async (_input, ctx) => {
        const { rows } = await ctx.db.query<TitleRow>(`SELECT ${COLUMNS} FROM titles ORDER BY name`);
        return { titles: rows.map(toTitle) };
      },
    },
    ...overrides,
  });
}
