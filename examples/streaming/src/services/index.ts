import { createBookmarksService } from './bookmarks.js';
import { createCatalogService } from './catalog.js';
import { createDeviceLicenseService } from './device-license.js';
import { createPlayApiService } from './play-api.js';
import { createPlaybackService } from './playback.js';
import { createRecommendationsService } from './recommendations.js';
import { createSubscriberService } from './subscriber.js';
import { createViewingStatsService } from './viewing-stats.js';

/** Every service of the example by its name in flotilla.yaml, and the function that creates it. */
export const serviceFactories = {
  subscriber: createSubscriberService,
  'device-license': createDeviceLicenseService,
  catalog: createCatalogService,
  playback: createPlaybackService,
  bookmarks: createBookmarksService,
  'play-api': createPlayApiService,
  'viewing-stats': createViewingStatsService,
  recommendations: createRecommendationsService,
} as const;

/** The name of one of the example's services. */
export type ServiceName = keyof typeof serviceFactories;

/** Every service of the example, in dependency order. */
export const SERVICE_NAMES = Object.keys(serviceFactories) as ServiceName[];
