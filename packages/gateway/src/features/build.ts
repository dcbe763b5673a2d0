import type { Logger } from '@flotilla/core';
import { Redis } from 'ioredis';
import { type Authenticator, createAuthenticator } from '../auth/authenticator.js';
import { JwksCaches } from '../auth/jwks.js';
import type { CompiledRoute } from '../routes/compile.js';
import { ResponseCache } from '../traffic/cache.js';
import { type Cors, createCors } from '../traffic/cors.js';
import { createRateLimiter, type RouteRateLimiter } from '../traffic/rate-limit.js';

/** Longest a shared rate limit waits for Redis (the client the gateway makes) before the check fails. */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;

/** The security and traffic objects of one route; a route without any has none of these. */
export interface RouteFeatures {
  readonly auth: Authenticator | undefined;
  readonly rateLimit: RouteRateLimiter | undefined;
  readonly cache: ResponseCache | undefined;
  readonly cors: Cors | undefined;
}

export interface FeatureBuilderOptions {
  /** Redis for `store: redis` rate limits; a client is made on first need and closed by `close()`. */
  redisUrl?: string;
  /** A Redis client the caller owns (instead of `redisUrl`). */
  redis?: Redis;
  /** Prefix of the rate limit keys in Redis. */
  redisPrefix?: string;
  logger: Logger;
}

/**
 * Builds the per-route security and traffic objects once per routes version. What a gateway
 * shares is made once: one JWKS cache (one fetch per issuer for every route) and one Redis
 * client. A route whose sections did not change keeps its objects across a reload, so its
 * cache entries and rate limit buckets survive unrelated edits.
 */
export class FeatureBuilder {
  readonly jwks = new JwksCaches();
  private redis: Redis | undefined;
  private ownRedis = false;
  private built = new Map<string, { settings: string; features: RouteFeatures }>();

  constructor(private readonly options: FeatureBuilderOptions) {
    this.redis = options.redis;
  }

  /** Features by route for a new routes version; throws (keeping the old version) on bad config. */
  build(routes: readonly CompiledRoute[]): Map<CompiledRoute, RouteFeatures> {
    const next = new Map<string, { settings: string; features: RouteFeatures }>();
    const byRoute = new Map<CompiledRoute, RouteFeatures>();
    for (const route of routes) {
      const { auth, rateLimit, cache, cors } = route.definition;
      if (auth === undefined && rateLimit === undefined && cache === undefined && cors === undefined)
        continue;
      const settings = JSON.stringify([auth, rateLimit, cache, cors]);
      const old = this.built.get(route.id);
      const features =
        old?.settings === settings
          ? old.features
          : {
              auth: auth && createAuthenticator(auth, { jwks: this.jwks }, `routes.${route.id}.auth`),
              rateLimit:
                rateLimit &&
                createRateLimiter(rateLimit, {
                  route: route.id,
                  redis: rateLimit.store === 'redis' ? this.redisClient(route.id) : undefined,
                  prefix: this.options.redisPrefix,
                  field: `routes.${route.id}.rateLimit`,
                }),
              cache: cache && new ResponseCache(cache, route.id, { field: `routes.${route.id}.cache` }),
              cors: cors && createCors(cors, `routes.${route.id}.cors`),
            };
      next.set(route.id, { settings, features });
      byRoute.set(route, features);
    }
    this.built = next;
    return byRoute;
  }

  private redisClient(route: string): Redis | undefined {
    if (this.redis) return this.redis;
    const url = this.options.redisUrl;
    if (url === undefined) return undefined; // createRateLimiter names the field and the fix
    const client = new Redis(url, {
      lazyConnect: false,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      // A Redis that accepts and never answers fails the check (then `failOpen` decides) instead
      // of holding every request of the route.
      commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    });
    // Errors surface per request (the limit fails open or closed as configured); keep one log line.
    let logged = false;
    client.on('error', (error) => {
      if (logged) return;
      logged = true;
      this.options.logger.warn({ err: error, route }, 'redis for shared rate limits is unreachable');
    });
    client.on('ready', () => {
      logged = false;
    });
    this.redis = client;
    this.ownRedis = true;
    return client;
  }

  /** Closes the Redis client the builder made. */
  async close(): Promise<void> {
    if (this.ownRedis) await this.redis?.quit().catch(() => this.redis?.disconnect());
  }
}
