import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';

/** `viewing-stats` when it answered, `fallback` for the generic list from config. */
const Source = Type.Union([Type.Literal('viewing-stats'), Type.Literal('fallback')]);

/** Rows of the home page. */
export const recommendations = defineContract({
  service: 'recommendations',
  endpoints: {
    trending: endpoint({
      method: 'GET',
      path: '/trending',
      summary: '"Trending now": the most played titles lately, or a generic list',
      query: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 10 })) }),
      response: Type.Object({
        source: Source,
        titles: Type.Array(Type.Object({ titleId: Type.String(), plays: Type.Optional(Type.Integer()) })),
      }),
    }),
    continueWatching: endpoint({
      method: 'GET',
      path: '/continue-watching',
      summary: '"Continue watching" for the calling user (the gateway principal)',
      response: Type.Object({
        source: Source,
        titles: Type.Array(Type.Object({ titleId: Type.String(), positionSeconds: Type.Integer() })),
      }),
    }),
  },
});
