import { createHash } from 'node:crypto';
import { createService } from '@flotilla/service';
import { type Static, Type } from '@sinclair/typebox';
import type { DeviceType, Network, Quality } from '../contracts/common.js';
import { playback } from '../contracts/playback.js';
import type { ServiceOverrides } from './overrides.js';

/** `config/playback.yaml`; read per request, so an edit applies to the next manifest. */
export const PlaybackConfig = Type.Object({
  cdn: Type.Object({ hosts: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) }),
  features: Type.Object({ av1: Type.Boolean({ default: false }) }, { default: {} }),
});

/** The encoding ladder (H.264 bitrates), best first. */
const LADDER = [
  { height: 2160, bitrateKbps: 16_000 },
  { height: 1080, bitrateKbps: 5_800 },
  { height: 720, bitrateKbps: 3_000 },
  { height: 480, bitrateKbps: 1_500 },
  { height: 360, bitrateKbps: 800 },
] as const;

const MAX_HEIGHT_OF_QUALITY: Record<Static<typeof Quality>, number> = { sd: 480, hd: 1080, uhd: 2160 };
const MAX_HEIGHT_OF_DEVICE: Record<Static<typeof DeviceType>, number> = {
  tv: 2160,
  console: 2160,
  web: 1080,
  mobile: 1080,
};
/** What each network sustains; above it the player would rebuffer. */
const MAX_KBPS_OF_NETWORK: Record<Static<typeof Network>, number> = {
  ethernet: Number.POSITIVE_INFINITY,
  wifi: 25_000,
  cellular: 3_000,
};
/** Bitrate of the same picture relative to H.264. */
const CODEC_EFFICIENCY = { av1: 0.6, hevc: 0.75, h264: 1 } as const;

/** The same title always from the same edge, so its segments stay hot in one cache. */
function cdnHostFor(titleId: string, hosts: readonly string[]): string {
  const n = createHash('sha1').update(titleId).digest().readUInt32BE(0);
  return hosts[n % hosts.length] as string;
}

/** Playback manifests: streams by device, network and plan; CDN hosts and codecs from config. */
export function createPlaybackService(overrides: ServiceOverrides = {}) {
  return createService({
    name: 'playback',
    version: '1.0.0',
    contract: playback,
    config: PlaybackConfig,
    routes: {
      manifest: ({ params, query }, ctx) => {
        const { cdn, features } = ctx.config;
        const codec: keyof typeof CODEC_EFFICIENCY = features.av1
          ? 'av1'
          : query.device === 'tv' || query.device === 'console'
            ? 'hevc'
            : 'h264';
        const maxHeight = Math.min(
          MAX_HEIGHT_OF_QUALITY[query.maxQuality],
          MAX_HEIGHT_OF_DEVICE[query.device],
        );
        const maxKbps = MAX_KBPS_OF_NETWORK[query.network];
        const rungs = LADDER.map((r) => ({
          height: r.height,
          bitrateKbps: Math.round(r.bitrateKbps * CODEC_EFFICIENCY[codec]),
        })).filter((r) => r.height <= maxHeight);
        const fitting = rungs.filter((r) => r.bitrateKbps <= maxKbps);
        // A network too slow for every rung still gets the lowest one: a poor picture beats none.
        const chosen = fitting.length > 0 ? fitting : rungs.slice(-1);
        const cdnHost = cdnHostFor(params.titleId, cdn.hosts);
        return {
          titleId: params.titleId,
          codec,
          cdnHost,
          streams: chosen.map((r) => ({
            ...r,
            url: `https://${cdnHost}/titles/${params.titleId}/${codec}/${r.height}p.mpd`,
          })),
        };
      },
    },
    ...overrides,
  });
}
