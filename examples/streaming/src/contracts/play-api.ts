import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { Title } from './catalog.js';
import { DeviceType, Network, TitleId } from './common.js';
import { License } from './device-license.js';
import { Manifest } from './playback.js';

/** The client's entry point: everything a player needs to start a title. */
export const playApi = defineContract({
  service: 'play-api',
  endpoints: {
    play: endpoint({
      method: 'POST',
      path: '/play',
      summary:
        'Starts a title for the calling user (the gateway principal): license, manifest, resume position, title',
      body: Type.Object({ titleId: TitleId, device: DeviceType, network: Network }),
      response: Type.Object({
        playId: Type.String(),
        userId: Type.String(),
        titleId: Type.String(),
        license: License,
        manifest: Manifest,
        resume: Type.Object({
          positionSeconds: Type.Integer({ minimum: 0 }),
          /** `start` when there is no bookmark or bookmarks did not answer in time. */
          from: Type.Union([Type.Literal('bookmark'), Type.Literal('start')]),
        }),
        /** Null only when the catalog is down and this instance never saw the title. */
        title: Type.Union([
          Type.Intersect([
            Title,
            Type.Object({ from: Type.Union([Type.Literal('catalog'), Type.Literal('cache')]) }),
          ]),
          Type.Null(),
        ]),
      }),
      // Every call is a new play (a new event): never sent twice by a retry.
      idempotent: false,
    }),
  },
});
