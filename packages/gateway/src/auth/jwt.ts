import { type Clock, isFlotillaError, systemClock } from '@flotilla/core';
import { parseDuration } from '@flotilla/resilience';
import { type Static, Type } from '@sinclair/typebox';
import { errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { badConfig, checkConfig } from './config.js';
import { JwksCache, type JwksCaches } from './jwks.js';
import {
  type AuthOutcome,
  type Claims,
  insufficientScope,
  invalidCredential,
  missingCredential,
  verifierUnavailable,
} from './outcome.js';
import { headerValue, type RequestLike } from './request.js';
import { missingScopes, unmetClaim } from './scopes.js';

/** Algorithms verified with a shared secret. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
/** Algorithms verified with a public key from a JWKS. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const Duration = Type.Union([Type.String(), Type.Number({ minimum: 0 })]);

/** The `jwt` section of a route's `auth`. */
export const JwtAuthSchema = Type.Object(
  {
    /** Expected `iss`. */
    issuer: Type.String({ minLength: 1 }),
    /** Expected `aud` (the token must name one of them). */
    audience: Type.Union([
      Type.String({ minLength: 1 }),
      Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    ]),
    /** Where the issuer publishes its public keys (RS*, PS*, ES*, EdDSA). */
    jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
    /** HS* shared secret; `${env:…}` is resolved by the routes loader. */
    secret: Type.Optional(Type.String({ minLength: 1 })),
    /** Accepted algorithms; default HS256 with a secret, every asymmetric one with a JWKS. */
    algorithms: Type.Optional(
      Type.Array(Type.Union([...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS].map((a) => Type.Literal(a))), {
        minItems: 1,
      }),
    ),
    /** Tolerance on `exp`/`nbf`/`iat` for clock differences. Default `30s`. */
    clockSkew: Type.Optional(Duration),
    /** Scopes the token must all grant (`scope` string or `scp` array). */
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** Required claim values: a string, or a list of which one must match. */
    claims: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })])),
    ),
    /** JWKS: refetch keys older than this. Default `10m`. */
    jwksMaxAge: Type.Optional(Duration),
    /** JWKS: at most one refetch on an unknown `kid` per this long. Default `30s`. */
    jwksCooldown: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

/** Configuration of JWT verification for a route. */
export type JwtAuthConfig = Static<typeof JwtAuthSchema>;

/** What a `JwtVerifier` shares with others. */
export interface JwtVerifierOptions {
  /** Shared JWKS caches (one per URL); a private one is made when absent. */
  jwks?: JwksCaches;
  clock?: Clock;
  /** Field name used in configuration errors. Default `jwt`. */
  field?: string;
}

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
const MIN_SECRET_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

/** Verifies bearer JWTs for one route: signature, iss, aud, exp, nbf, scopes and claims. */
export class JwtVerifier {
  readonly config: JwtAuthConfig;
  private readonly key: Uint8Array | JWTVerifyGetKey;
  private readonly algorithms: string[];
  private readonly clockSkewSec: number;
  private readonly clock: Clock;
  private readonly scopes: string[];

  constructor(config: JwtAuthConfig, options: JwtVerifierOptions = {}) {
    const field = options.field ?? 'jwt';
    this.config = checkConfig(JwtAuthSchema, config, field);
    this.clock = options.clock ?? systemClock;
    const { jwksUrl, secret } = config;
    if ((jwksUrl === undefined) === (secret === undefined)) {
      badConfig(`${field}.jwksUrl/${field}.secret`, 'exactly one of the two', {
        jwksUrl,
        secret: secret && '***',
      });
    }
    // Algorithms are pinned to the key type: this is what defeats algorithm confusion (an HS256
    // token "signed" with an RSA public key) and `alg: none`, which is in neither list.
    const allowed: readonly string[] = secret !== undefined ? HMAC_ALGORITHMS : ASYMMETRIC_ALGORITHMS;
    this.algorithms = config.algorithms ?? (secret !== undefined ? ['HS256'] : [...allowed]);
    for (const alg of this.algorithms) {
      if (!allowed.includes(alg)) {
        badConfig(
          `${field}.algorithms`,
          `algorithms of a ${secret ? 'secret' : 'JWKS'} key (${allowed.join(', ')})`,
          alg,
        );
      }
    }
    if (secret !== undefined) {
      const bytes = new TextEncoder().encode(secret);
      const needed = Math.max(...this.algorithms.map((a) => MIN_SECRET_BYTES[a] ?? 32));
      if (bytes.length < needed)
        badConfig(`${field}.secret`, `at least ${needed} bytes`, `${bytes.length} bytes`);
      this.key = bytes;
    } else {
      const cacheOptions = {
        clock: this.clock,
        maxAgeMs: parseDuration(config.jwksMaxAge ?? '10m', `${field}.jwksMaxAge`),
        cooldownMs: parseDuration(config.jwksCooldown ?? '30s', `${field}.jwksCooldown`),
      };
      const cache =
        options.jwks?.get(jwksUrl!, cacheOptions) ?? new JwksCache({ ...cacheOptions, url: jwksUrl! });
      this.key = cache.getKey;
    }
    this.clockSkewSec = Math.floor(parseDuration(config.clockSkew ?? '30s', `${field}.clockSkew`) / 1000);
    this.scopes = config.scopes ?? [];
  }

  /** Verifies the `Authorization: Bearer` token of a request. */
  authenticate(req: RequestLike): Promise<AuthOutcome> {
    const token = bearerToken(req);
    if (token !== undefined) return this.verify(token);
    if (headerValue(req, 'authorization') !== undefined) return Promise.resolve(notBearer());
    return Promise.resolve(missingCredential('Bearer', 'A bearer token is required'));
  }

  /** Verifies a compact JWT and the route's scope and claim requirements. */
  async verify(token: string): Promise<AuthOutcome> {
    let claims: Claims;
    try {
      const opts = {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.algorithms,
        clockTolerance: this.clockSkewSec,
        currentDate: new Date(this.clock.now()),
        // A token that never expires cannot be revoked by waiting; refuse it.
        requiredClaims: ['exp'],
      };
      const result =
        this.key instanceof Uint8Array
          ? await jwtVerify(token, this.key, opts)
          : await jwtVerify(token, this.key, opts);
      claims = result.payload as Claims;
    } catch (error) {
      if (isFlotillaError(error) && error.code === 'UNAVAILABLE') return verifierUnavailable(error.message);
      return invalidCredential('Bearer', describeJoseError(error));
    }
    const missing = missingScopes(claims, this.scopes);
    if (missing.length > 0) {
      return insufficientScope('Bearer', `The token lacks the scope ${missing.join(' ')}`, this.scopes);
    }
    if (this.config.claims !== undefined) {
      const unmet = unmetClaim(claims, this.config.claims);
      if (unmet !== undefined) {
        return insufficientScope('Bearer', `The token's "${unmet}" claim does not grant access`, this.scopes);
      }
    }
    return { ok: true, method: 'jwt', claims };
  }
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 7235). */
export function bearerToken(req: RequestLike): string | undefined {
  const header = headerValue(req, 'authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match?.[1];
}

/** 401 for an Authorization header that is not a well-formed bearer token. */
export function notBearer(): AuthOutcome {
  return invalidCredential('Bearer', 'The Authorization header is not a bearer token');
}

/** A client-safe reason for a rejected token; never echoes the token or key material. */
function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'The token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'The token is not valid yet';
    if (error.reason === 'missing') return `The token has no "${error.claim}" claim`;
    return `The token's "${error.claim}" claim is not accepted`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'The token algorithm is not accepted';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'The token signature is invalid';
  if (error instanceof errors.JWKSNoMatchingKey) return 'No key of the issuer matches the token';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'The token does not name its key (kid)';
  if (error instanceof errors.JOSENotSupported) return 'The token algorithm is not supported';
  return 'The token is malformed';
}
