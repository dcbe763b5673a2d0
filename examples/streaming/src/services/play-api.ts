import { newId } from '@flotilla/core';
import { createService } from '@flotilla/service';
import { type Static, Type } from '@sinclair/typebox';
import { bookmarks } from '../contracts/bookmarks.js';
import { catalog, type Title } from '../contracts/catalog.js';
import { deviceLicense } from '../contracts/device-license.js';
import { playApi } from '../contracts/play-api.js';
import { playback } from '../contracts/playback.js';
import { subscriber } from '../contracts/subscriber.js';
import { PLAY_CONSUMERS, PlayStarted } from '../messages.js';
import { isRemoteNotFound, NotEntitledError, UnauthenticatedError } from '../play/errors.js';
import { LastGood } from '../play/last-good.js';
import { resumePosition, titleInfo } from '../play/optional-calls.js';
import { migrationsOf, type ServiceOverrides } from './overrides.js';

/** `config/application.yaml` (shared) and `config/play-api.yaml`. */
export const PlayApiConfig = Type.Object({
  fallbacks: Type.Object({ timeoutMs: Type.Integer({ minimum: 1, default: 300 }) }, { default: {} }),
});

/**
 * The play flow: entitlement first (nothing else happens for an account that may not play),
 * then license, manifest, resume position and title in parallel, then the play is recorded
 * and `play.started` published in one transaction (the outbox: the event is sent if and only
 * if the play is recorded, even while the broker is down).
 */
export function createPlayApiService(overrides: ServiceOverrides = {}) {
  const titles = new LastGood<Static<typeof Title>>();
  return createService({
    name: 'play-api',
    version: '1.0.0',
    contract: playApi,
    config: PlayApiConfig,
    clients: { subscriber, deviceLicense, playback, bookmarks, catalog },
    // Wait only for what a play cannot do without; bookmarks and catalog have fallbacks, so
    // play-api starts (and restarts) while they are down.
    dependencies: { services: ['subscriber', 'device-license', 'playback'] },
    database: { migrations: migrationsOf('play-api') },
    bus: true,
    onStart: async (service) => {
      for (const group of PLAY_CONSUMERS) await service.bus.declare(PlayStarted, { group });
    },
    routes: {
      play: async ({ body }, ctx) => {
        const userId = ctx.principal?.sub;
        if (!userId) {
          throw new UnauthenticatedError(
            'Playing needs a signed-in user: no principal came with the request',
          );
        }
        const entitlement = await ctx.clients.subscriber
          .entitlement({ params: { userId } })
          .catch((error) => {
            throw isRemoteNotFound(error) ? new NotEntitledError(`No account ${userId}`) : error;
          });
        if (!entitlement.allowed) {
          throw new NotEntitledError(`The account of ${userId} is ${entitlement.status}`, {
            data: { status: entitlement.status },
          });
        }
        const { titleId, device, network } = body;
        const timeoutMs = ctx.config.fallbacks.timeoutMs;
        const [license, manifest, resume, title] = await Promise.all([
          ctx.clients.deviceLicense.issue({ body: { userId, titleId, deviceType: device } }),
          ctx.clients.playback.manifest({
            params: { titleId },
            query: { device, network, maxQuality: entitlement.maxQuality },
          }),
          resumePosition(ctx.clients.bookmarks, { userId, titleId }, timeoutMs, ctx.log),
          titleInfo(ctx.clients.catalog, titleId, titles, timeoutMs, ctx.log),
        ]);
        const playId = newId();
        const startedAt = Date.now();
        await ctx.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO plays (play_id, user_id, title_id, device, network, position_seconds, started_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
            [playId, userId, titleId, device, network, resume.positionSeconds, new Date(startedAt)],
          );
          await tx.publish(
            PlayStarted,
            { playId, userId, titleId, device, positionSeconds: resume.positionSeconds, startedAt },
            // Keyed by title: one title's plays stay in order for consumers that ask for it.
            { key: titleId },
          );
        });
        return { playId, userId, titleId, license, manifest, resume, title };
      },
    },
    ...overrides,
  });
}
