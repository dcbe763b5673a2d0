import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { TitleId, UserId } from './common.js';

const Bookmark = Type.Object({
  userId: Type.String(),
  titleId: Type.String(),
  positionSeconds: Type.Integer({ minimum: 0 }),
  updatedAt: Type.String({ description: 'ISO 8601' }),
});

const Key = Type.Object({ userId: UserId, titleId: TitleId });

/** Resume positions per user and title. */
export const bookmarks = defineContract({
  service: 'bookmarks',
  endpoints: {
    get: endpoint({
      method: 'GET',
      path: '/bookmarks/:userId/:titleId',
      summary: 'Where the user stopped watching the title (404 when never)',
      params: Key,
      response: Bookmark,
    }),
    put: endpoint({
      method: 'PUT',
      path: '/bookmarks/:userId/:titleId',
      summary: 'Records where the user stopped',
      params: Key,
      body: Type.Object({ positionSeconds: Type.Integer({ minimum: 0 }) }),
      response: Bookmark,
    }),
  },
});
