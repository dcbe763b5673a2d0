import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { TitleId } from './common.js';

export const Title = Type.Object({
  titleId: Type.String(),
  name: Type.String(),
  year: Type.Integer(),
  kind: Type.Union([Type.Literal('movie'), Type.Literal('series')]),
  genres: Type.Array(Type.String()),
  maturityRating: Type.String(),
  durationSeconds: Type.Integer({ minimum: 0 }),
});

/** Title metadata. */
export const catalog = defineContract({
  service: 'catalog',
  endpoints: {
    title: endpoint({
      method: 'GET',
      path: '/titles/:titleId',
      summary: 'One title (404 when unknown)',
      params: Type.Object({ titleId: TitleId }),
      response: Title,
    }),
    titles: endpoint({
      method: 'GET',
      path: '/titles',
      summary: 'Every title, by name',
      response: Type.Object({ titles: Type.Array(Title) }),
    }),
  },
});
