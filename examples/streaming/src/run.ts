// `node dist/run.js <service>`: runs one service of the example as a process (what
// `flotilla up` starts for each instance in flotilla.yaml). Configuration comes from the
// environment `flotilla up` sets: PORT, FLOTILLA_REGISTRY_URL, FLOTILLA_CONFIG_URL,
// FLOTILLA_POSTGRES_URL, FLOTILLA_BUS_URL, FLOTILLA_ENV.
import { createBookmarksService } from './services/bookmarks.js';
import { createCatalogService } from './services/catalog.js';
import { createDeviceLicenseService } from './services/device-license.js';
import { createPlayApiService } from './services/play-api.js';
import { createPlaybackService } from './services/playback.js';
import { createRecommendationsService } from './services/recommendations.js';
import { createSubscriberService } from './services/subscriber.js';
import { createViewingStatsService } from './services/viewing-stats.js';

const services = {
  subscriber: createSubscriberService,
  'device-license': createDeviceLicenseService,
  catalog: createCatalogService,
  playback: createPlaybackService,
  bookmarks: createBookmarksService,
  'play-api': createPlayApiService,
  'viewing-stats': createViewingStatsService,
  recommendations: createRecommendationsService,
} as const;

const name = process.argv[2] ?? '';
if (!Object.hasOwn(services, name)) {
  process.stderr.write(
    `usage: node dist/run.js <service>\n  service should be one of ${Object.keys(services).join(', ')}; got "${name}"\n`,
  );
  process.exit(2);
}
await services[name as keyof typeof services]().run();
