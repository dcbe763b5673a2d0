import { type Clock, systemClock } from '@flotilla/core';
import { type Static, Type } from '@sinclair/typebox';
import { ApiKeyAuthSchema, ApiKeyVerifier } from './api-keys.js';
import { badConfig, checkConfig } from './config.js';
import { JwksCaches } from './jwks.js';
import { bearerToken, JwtAuthSchema, JwtVerifier, notBearer } from './jwt.js';
import { type AuthOutcome, type Claims, missingCredential } from './outcome.js';
import { encodePrincipal } from './principal.js';
import { headerValue, type RequestLike } from './request.js';
import { VerifiedTokens } from './verified-tokens.js';

/** The `auth` section of a route: JWT, API keys or both (either is accepted). */
export const RouteAuthSchema = Type.Object(
  {
    jwt: Type.Optional(JwtAuthSchema),
    apiKey: Type.Optional(ApiKeyAuthSchema),
    /** Let requests without any credential through anonymously (a bad credential still fails). */
    optional: Type.Optional(Type.Boolean()),
    /** Claims forwarded in `x-flotilla-principal` beyond sub, scope, iss, aud, exp, client_id. */
    forwardClaims: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

/** Configuration of a route's authentication. */
export type RouteAuthConfig = Static<typeof RouteAuthSchema>;

/** What every route's authenticator shares. */
export interface AuthShared {
  /** JWKS caches shared across routes (one fetch per issuer). */
  jwks?: JwksCaches;
  clock?: Clock;
}

/** Authenticates the requests of one route. */
export interface Authenticator {
  /** Decides whether a request may go on, and as whom. */
  authenticate(req: RequestLike): Promise<AuthOutcome>;
  /** The `x-flotilla-principal` value for verified claims. */
  principal(claims: Claims): string;
}

/**
 * Builds a route's authenticator. The credential the request presents decides the check: a
 * bearer token goes to the JWT verifier, an API key to the key list (a bearer token wins when
 * both are sent). With no credential, `optional` routes pass anonymously.
 */
export function createAuthenticator(
  config: RouteAuthConfig,
  shared: AuthShared = {},
  field = 'auth',
): Authenticator {
  checkConfig(RouteAuthSchema, config, field);
  if (config.jwt === undefined && config.apiKey === undefined) {
    badConfig(`${field}.jwt/${field}.apiKey`, 'at least one of the two', config);
  }
  const jwks = shared.jwks ?? new JwksCaches();
  const jwt = config.jwt && new JwtVerifier(config.jwt, { jwks, clock: shared.clock, field: `${field}.jwt` });
  const apiKey = config.apiKey && new ApiKeyVerifier(config.apiKey, `${field}.apiKey`);
  const forward = config.forwardClaims ?? [];
  const verified = jwt && new VerifiedTokens(shared.clock ?? systemClock);
  // Claims objects are reused for a remembered token, so their header value is computed once.
  const principals = new WeakMap<Claims, string>();
  const scheme = jwt ? 'Bearer' : 'ApiKey';
  const needed = [jwt && 'a bearer token', apiKey && `an API key (${apiKey.header})`]
    .filter(Boolean)
    .join(' or ');
  return {
    async authenticate(req) {
      const connection = req.socket;
      const header = jwt && connection !== undefined ? req.headers.authorization : undefined;
      if (typeof header === 'string') {
        const recent = verified!.recent(connection!, header);
        if (recent) return recent;
      }
      const token = jwt && bearerToken(req);
      if (jwt && token !== undefined) {
        let outcome: AuthOutcome | undefined = verified!.get(token);
        if (outcome === undefined) {
          outcome = await jwt.verify(token);
          if (outcome.ok) verified!.set(token, outcome);
        }
        if (outcome.ok && typeof header === 'string') verified!.sentBy(connection!, header, token);
        return outcome;
      }
      const key = apiKey?.presented(req);
      if (apiKey && key !== undefined) return apiKey.verify(key);
      // A credential the route cannot read is refused, never mistaken for "no credential" (which
      // an optional route would let through anonymously).
      if (jwt && headerValue(req, 'authorization') !== undefined) return notBearer();
      if (config.optional) return { ok: true, method: 'anonymous', claims: undefined };
      return missingCredential(scheme, `Authentication is required: ${needed}`);
    },
    principal(claims) {
      let value = principals.get(claims);
      if (value === undefined) {
        value = encodePrincipal(claims, forward);
        principals.set(claims, value);
      }
      return value;
    },
  };
}
