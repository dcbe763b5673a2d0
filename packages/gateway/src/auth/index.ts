export {
  API_KEY_ISSUER,
  type ApiKeyAuthConfig,
  ApiKeyAuthSchema,
  ApiKeyEntrySchema,
  ApiKeyVerifier,
  hashApiKey,
} from './api-keys.js';
export {
  type Authenticator,
  type AuthShared,
  createAuthenticator,
  type RouteAuthConfig,
  RouteAuthSchema,
} from './authenticator.js';
export { JwksCache, type JwksCacheOptions, JwksCaches, type JwksStats } from './jwks.js';
export {
  ASYMMETRIC_ALGORITHMS,
  bearerToken,
  HMAC_ALGORITHMS,
  type JwtAuthConfig,
  JwtAuthSchema,
  JwtVerifier,
  type JwtVerifierOptions,
} from './jwt.js';
export type { AuthFailure, AuthMethod, AuthOutcome, AuthSuccess, Claims } from './outcome.js';
export { decodePrincipal, encodePrincipal, PRINCIPAL_CLAIMS, PRINCIPAL_HEADER } from './principal.js';
export { headerValue, queryParam, type RequestLike } from './request.js';
export { grantedScopes } from './scopes.js';
