import { defineContract, endpoint } from '@flotilla/service';
import { Type } from '@sinclair/typebox';
import { DeviceType, Network, Quality, TitleId } from './common.js';

export const Manifest = Type.Object({
  titleId: Type.String(),
  codec: Type.Union([Type.Literal('av1'), Type.Literal('hevc'), Type.Literal('h264')]),
  cdnHost: Type.String(),
  /** Best first; the player starts at the first and adapts down. */
  streams: Type.Array(
    Type.Object({
      height: Type.Integer(),
      bitrateKbps: Type.Integer(),
      url: Type.String(),
    }),
    { minItems: 1 },
  ),
});

/** Playback manifests: which streams, from which CDN. */
export const playback = defineContract({
  service: 'playback',
  endpoints: {
    manifest: endpoint({
      method: 'GET',
      path: '/manifests/:titleId',
      summary: 'Streams and CDN URLs for a device, a network and the highest quality the plan allows',
      params: Type.Object({ titleId: TitleId }),
      query: Type.Object({ device: DeviceType, network: Network, maxQuality: Quality }),
      response: Manifest,
    }),
  },
});
