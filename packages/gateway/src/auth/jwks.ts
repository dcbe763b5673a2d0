import { type Clock, systemClock, UnavailableError } from '@flotilla/core';
import {
  createLocalJWKSet,
  errors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';

/** Options of a JWKS cache. */
export interface JwksCacheOptions {
  /** URL of the JSON Web Key Set (`jwks_uri`). */
  url: string;
  /** Keys older than this are refetched before use. Default 10 minutes. */
  maxAgeMs?: number;
  /** At most one refetch per this long, however many unknown `kid`s arrive. Default 30 s. */
  cooldownMs?: number;
  /** Timeout of one fetch. Default 5 s. */
  timeoutMs?: number;
  clock?: Clock;
}

/** Counters for metrics and the admin API. */
export interface JwksStats {
  fetches: number;
  failures: number;
  keys: number;
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/**
 * A cached JSON Web Key Set from a URL. Fetching and caching live here (not in jose's
 * `createRemoteJWKSet`) for three reasons: time comes from an injectable clock, the last good
 * keys keep verifying while the JWKS endpoint is down, and a flood of tokens with made-up `kid`s
 * costs the issuer at most one request per cooldown. Key selection is jose's, which matches a
 * key only to algorithms of its type (an RSA key is never used as an HMAC secret).
 */
export class JwksCache {
  readonly url: string;
  private readonly maxAgeMs: number;
  private readonly cooldownMs: number;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private resolver: KeyResolver | undefined;
  private keyCount = 0;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  private fetches = 0;
  private failures = 0;

  constructor(options: JwksCacheOptions) {
    this.url = options.url;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.clock = options.clock ?? systemClock;
  }

  /** The key for a token's protected header; the `getKey` argument of jose's `jwtVerify`. */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    const now = this.clock.now();
    if (this.resolver === undefined) {
      await this.refreshIfAllowed(now, true);
    } else if (now - this.fetchedAt >= this.maxAgeMs) {
      // Stale keys still verify while fresh ones load: no request waits on the issuer (or on
      // its timeout, when it is down) just because the cache aged.
      void this.refreshIfAllowed(now, false);
    }
    if (this.resolver === undefined) {
      throw new UnavailableError(`JWKS ${this.url} could not be fetched`);
    }
    try {
      return await this.resolver(header, token);
    } catch (error) {
      // An unknown kid may be a key the issuer rotated in since the last fetch.
      if (!(error instanceof errors.JWKSNoMatchingKey) || !(await this.refreshIfAllowed(now, false)))
        throw error;
      return await this.resolver(header, token);
    }
  };

  /** Fetches the key set now, unless a fetch is already under way. */
  refresh(): Promise<void> {
    this.pending ??= this.load().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  stats(): JwksStats {
    return { fetches: this.fetches, failures: this.failures, keys: this.keyCount };
  }

  /**
   * Refetches unless one happened within the cooldown; true when new keys were loaded. With no
   * keys at all (`force`), every request fails until a fetch works, so the wait is 1 s at most.
   */
  private async refreshIfAllowed(now: number, force: boolean): Promise<boolean> {
    if (this.pending === undefined && !force && now - this.attemptedAt < this.cooldownMs) return false;
    if (this.pending === undefined && force && now - this.attemptedAt < Math.min(this.cooldownMs, 1_000)) {
      return false;
    }
    try {
      await this.refresh();
      return true;
    } catch {
      // Keep the last good keys; getKey reports unavailability only when there are none.
      return false;
    }
  }

  private async load(): Promise<void> {
    this.attemptedAt = this.clock.now();
    this.fetches++;
    try {
      const response = await fetch(this.url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`status ${response.status}`);
      const body = (await response.json()) as JSONWebKeySet;
      if (!Array.isArray(body?.keys)) throw new Error('no "keys" array');
      this.resolver = createLocalJWKSet(body);
      this.keyCount = body.keys.length;
      this.fetchedAt = this.clock.now();
    } catch (cause) {
      this.failures++;
      throw new UnavailableError(`JWKS ${this.url} could not be fetched: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
}

/**
 * One `JwksCache` per URL, shared by every route that trusts the same issuer, so routes do not
 * each fetch the same keys.
 */
export class JwksCaches {
  private readonly caches = new Map<string, JwksCache>();
  constructor(private readonly defaults: Omit<JwksCacheOptions, 'url'> = {}) {}

  /** The cache for `url`, created on first use. */
  get(url: string, options: Omit<JwksCacheOptions, 'url'> = {}): JwksCache {
    let cache = this.caches.get(url);
    if (cache === undefined) {
      cache = new JwksCache({ ...this.defaults, ...options, url });
      this.caches.set(url, cache);
    }
    return cache;
  }

  /** Every cache, for stats. */
  all(): JwksCache[] {
    return [...this.caches.values()];
  }
}
