import type { Clock } from '@flotilla/core';
import type { AuthSuccess } from './outcome.js';

interface Entry {
  readonly outcome: AuthSuccess;
  /** Unix ms after which the token is verified again. */
  readonly until: number;
}

/** Longest a verified token is trusted without checking its signature again. */
export const VERIFIED_TOKEN_TTL_MS = 60_000;
/** Tokens remembered per route; the oldest is forgotten first. */
export const VERIFIED_TOKEN_ENTRIES = 10_000;

/**
 * Tokens a route verified recently, by their exact text. An ES256 signature check costs more
 * than the rest of the request path together, and clients send the same token for its whole
 * life; remembering the outcome (as Envoy's jwt_authn cache does) keeps the check for the first
 * request only. An entry ends at the token's `exp` (no clock skew allowance: an expired token
 * goes through the full verifier again and fails there) and after at most a minute, so a key
 * removed from the JWKS stops being trusted soon.
 */
export class VerifiedTokens {
  private readonly entries = new Map<string, Entry>();
  /**
   * The `Authorization` header each connection sent last, with its token's entry: a client sends
   * the same header on every request of a keep-alive connection, and comparing it with the last
   * one costs less than the regular expression and hashing a token of several hundred
   * characters for the map (about 1.3 µs of a request's CPU in the gateway benchmark).
   */
  private readonly lastOf = new WeakMap<object, { header: string; entry: Entry }>();

  constructor(private readonly clock: Clock) {}

  get(token: string): AuthSuccess | undefined {
    return this.live(token)?.outcome;
  }

  /** The outcome for `header` when it is the header `connection` sent last and its token is still trusted. */
  recent(connection: object, header: string): AuthSuccess | undefined {
    const last = this.lastOf.get(connection);
    if (last === undefined || last.header !== header) return undefined;
    if (this.clock.now() >= last.entry.until) {
      this.lastOf.delete(connection);
      return undefined;
    }
    return last.entry.outcome;
  }

  /** Notes that `connection` sent `header`, whose token is `token` (see {@link recent}). */
  sentBy(connection: object, header: string, token: string): void {
    const entry = this.live(token);
    if (entry !== undefined) this.lastOf.set(connection, { header, entry });
  }

  private live(token: string): Entry | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (this.clock.now() >= entry.until) {
      this.entries.delete(token);
      return undefined;
    }
    return entry;
  }

  set(token: string, outcome: AuthSuccess): void {
    const now = this.clock.now();
    const exp = outcome.claims?.exp;
    const until = Math.min(now + VERIFIED_TOKEN_TTL_MS, typeof exp === 'number' ? exp * 1000 : now);
    if (until <= now) return;
    if (this.entries.size >= VERIFIED_TOKEN_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, { outcome, until });
  }
}
