import type { Clock } from '@flotilla/core';
import type { AuthSuccess } from './outcome.js';

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
  private readonly entries = new Map<string, { outcome: AuthSuccess; until: number }>();

  constructor(private readonly clock: Clock) {}

  get(token: string): AuthSuccess | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (this.clock.now() >= entry.until) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.outcome;
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
