import { createService } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { recommendations } from '../contracts/recommendations.js';
import { viewingStats } from '../contracts/viewing-stats.js';
import { UnauthenticatedError } from '../play/errors.js';
import type { ServiceOverrides } from './overrides.js';

/** `config/application.yaml` (shared) and `config/recommendations.yaml`. */
export const RecommendationsConfig = Type.Object({
  fallbacks: Type.Object({ timeoutMs: Type.Integer({ minimum: 1, default: 300 }) }, { default: {} }),
  trending: Type.Object({ windowMinutes: Type.Integer({ minimum: 1, default: 60 }) }, { default: {} }),
  /** Shown when viewing-stats is down or has nothing yet: the editors' list. */
  generic: Type.Object({ trending: Type.Array(Type.String(), { default: [] }) }, { default: {} }),
});

/**
 * Home-page rows from viewing-stats' aggregates. viewing-stats is optional: when it is down or
 * slow, "trending now" is the generic list from config and "continue watching" is empty, so the
 * home page renders either way.
 */
export function createRecommendationsService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'recommendations',
    version: '1.0.0',
    contract: recommendations,
    config: RecommendationsConfig,
    clients: { viewingStats },
    routes: {
      trending: async ({ query }, ctx) => {
        const limit = query.limit ?? 10;
        const generic = () => ({
          source: 'fallback' as const,
          titles: ctx.config.generic.trending.slice(0, limit).map((titleId) => ({ titleId })),
        });
        try {
          const stats = await ctx.clients.viewingStats.trending(
            { query: { minutes: ctx.config.trending.windowMinutes, limit } },
            { timeoutMs: ctx.config.fallbacks.timeoutMs },
          );
          // Nothing played lately (a fresh system, a quiet night): the generic list beats an empty row.
          if (stats.titles.length === 0) return generic();
          return { source: 'viewing-stats' as const, titles: stats.titles };
        } catch (error) {
          ctx.log.warn({ err: error }, 'viewing-stats unavailable; serving the generic list');
          return generic();
        }
      },
      continueWatching: async (_input, ctx) => {
        const userId = ctx.principal?.sub;
        if (!userId) throw new UnauthenticatedError('"Continue watching" needs a signed-in user');
        try {
          const stats = await ctx.clients.viewingStats.continueWatching(
            { params: { userId } },
            { timeoutMs: ctx.config.fallbacks.timeoutMs },
          );
          return {
            source: 'viewing-stats' as const,
            titles: stats.titles.map(({ titleId, positionSeconds }) => ({ titleId, positionSeconds })),
          };
        } catch (error) {
          ctx.log.warn({ err: error }, 'viewing-stats unavailable; no "continue watching" row');
          return { source: 'fallback' as const, titles: [] };
        }
      },
    },
    ...overrides,
  });
}
