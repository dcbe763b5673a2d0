import { isFlotillaError } from '@flotilla/core';
import { createAuthenticator } from '../auth/authenticator.js';
import { JwksCaches } from '../auth/jwks.js';
import { RouteDefinitionError } from '../routes/errors.js';
import type { RouteDefinition } from '../routes/schema.js';
import { ResponseCache } from '../traffic/cache.js';
import { createCors } from '../traffic/cors.js';
import { createRateLimiter } from '../traffic/rate-limit.js';

/** One cache for every dry build: building a verifier must never fetch, and this keeps it so. */
const dryJwks = new JwksCaches();

/**
 * Checks the security and traffic sections beyond their schemas (a duration that does not parse,
 * CORS `*` with credentials, an HS256 route without a secret…) by building each module once at
 * load, so the error points at the route's YAML line instead of surfacing at the first request.
 * The gateway builds the real objects, with its shared JWKS cache and Redis client, later.
 */
export function checkFeatures(def: RouteDefinition, at: string): void {
  guard(at, 'auth', def.auth, (field) => createAuthenticator(def.auth!, { jwks: dryJwks }, field));
  guard(at, 'rateLimit', def.rateLimit, (field) =>
    // The store is the gateway's business (it may have no Redis yet): check the rest locally.
    createRateLimiter({ ...def.rateLimit!, store: 'local' }, { route: def.id, field }),
  );
  guard(at, 'cache', def.cache, (field) => new ResponseCache(def.cache!, def.id, { field }));
  guard(at, 'cors', def.cors, (field) => createCors(def.cors!, field));
}

function guard(at: string, key: string, value: unknown, build: (field: string) => unknown): void {
  if (value === undefined) return;
  try {
    build(key);
  } catch (error) {
    throw asDefinitionError(error, at, key);
  }
}

/** `rateLimit.period should be …` becomes pointer `/routes/3/rateLimit/period`, message `should be …`. */
export function asDefinitionError(error: unknown, at: string, key: string): unknown {
  if (!isFlotillaError(error)) return error;
  const field = typeof error.data?.field === 'string' ? error.data.field : key;
  const pointer = `${at}/${field.split('.').join('/')}`;
  const message = error.message.startsWith(`${field} `)
    ? error.message.slice(field.length + 1)
    : error.message;
  return new RouteDefinitionError(pointer, message);
}
