import { defineMessage } from '@flotilla/bus';
import { Type } from '@sinclair/typebox';

/** A user started a title: published by play-api (key: the title), consumed by viewing-stats. */
export const PlayStarted = defineMessage(
  'play.started',
  Type.Object({
    playId: Type.String(),
    userId: Type.String(),
    titleId: Type.String(),
    device: Type.String(),
    positionSeconds: Type.Integer({ minimum: 0 }),
    /** Event time (Unix ms): windows are cut by when the play happened, not when it was counted. */
    startedAt: Type.Integer(),
  }),
  { topic: 'plays' },
);

/**
 * The groups that must receive every play. A message reaches only the groups that exist when
 * it is published, so the producer declares them at start: plays made before viewing-stats
 * ever ran wait in its queue instead of being lost.
 */
export const PLAY_CONSUMERS = ['viewing-stats'] as const;
