import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { UserId } from './common.js';

/** Read side of the stream processor's aggregates. */
export const viewingStats = defineContract({
  service: 'viewing-stats',
  endpoints: {
    trending: endpoint({
      method: 'GET',
      path: '/trending',
      summary: 'Most played titles over the last `minutes` (summed 1-minute windows)',
      query: Type.Object({
        minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440, default: 60 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })),
      }),
      response: Type.Object({
        minutes: Type.Integer(),
        titles: Type.Array(Type.Object({ titleId: Type.String(), plays: Type.Integer() })),
      }),
    }),
    continueWatching: endpoint({
      method: 'GET',
      path: '/continue-watching/:userId',
      summary: "The user's most recently started titles, with where each started",
      params: Type.Object({ userId: UserId }),
      query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 })) }),
      response: Type.Object({
        userId: Type.String(),
        titles: Type.Array(
          Type.Object({
            titleId: Type.String(),
            positionSeconds: Type.Integer(),
            lastPlayedAt: Type.String({ description: 'ISO 8601' }),
          }),
        ),
      }),
    }),
  },
});
