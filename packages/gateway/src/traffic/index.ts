export {
  CACHE_MISS_HEADERS,
  type CacheConfig,
  type CachedResponse,
  CacheSchema,
  type CacheStats,
  parseSize,
  ResponseCache,
  type ResponseHeaders,
} from './cache.js';
export { type CacheDirectives, parseCacheControl } from './cache-control.js';
export { clientIp, type KeySource, partitionKey } from './client-key.js';
export { type Cors, type CorsConfig, CorsSchema, createCors, type PreflightAnswer } from './cors.js';
export { LruBytes, type Sized } from './lru.js';
export {
  createRateLimiter,
  type RateLimitConfig,
  type RateLimitDeps,
  type RateLimitOutcome,
  RateLimitSchema,
  type RouteRateLimiter,
} from './rate-limit.js';
export { applySecureHeaders, FINGERPRINT_HEADERS, SECURE_HEADERS } from './secure-headers.js';
