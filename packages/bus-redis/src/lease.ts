import type { Logger } from '@flotilla/core';
import type { ScriptedRedis } from './scripts.js';

/**
 * The lease that makes one consumer of an ordered group the active one: a key holding the
 * holder's token with a TTL (`SET NX PX`), extended by a compare-and-extend script every third of
 * the TTL and deleted by a compare-and-delete on release. Each acquisition gets a new token, and
 * the settle and read scripts of the holder carry it, so Redis refuses them once the key is gone
 * or names someone else.
 *
 * Locally the lease counts as held until `ttl` after the last successful acquire or renewal was
 * *sent*: the key cannot expire on the server before that, so a holder cut off from Redis stops
 * starting handlers before any other instance can acquire the key.
 */
export class Lease {
  private current: string | undefined;
  /** The token of a term that ended locally but may still be in Redis, released once its handlers finished. */
  private stale: string | undefined;
  private validUntil = 0;
  private renewing: NodeJS.Timeout | undefined;
  private acquisitions = 0;

  constructor(
    private readonly redis: ScriptedRedis,
    readonly key: string,
    private readonly owner: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  /** The token of the current term, or undefined when not (or no longer) held. */
  get token(): string | undefined {
    if (this.current !== undefined && Date.now() >= this.validUntil)
      this.lost('its TTL passed without a renewal');
    return this.current;
  }

  /** True while `token` is the token of the current, unexpired term. */
  holds(token: string): boolean {
    return token !== '' && this.token === token;
  }

  /** Tries once to become the holder; true if this instance holds the lease now. */
  async acquire(): Promise<boolean> {
    if (this.token !== undefined) return true;
    const token = `${this.owner}.${++this.acquisitions}`;
    const sentAt = Date.now();
    const reply = await this.redis.set(this.key, token, 'PX', this.ttlMs, 'NX');
    if (reply !== 'OK') return false;
    this.current = token;
    this.validUntil = sentAt + this.ttlMs;
    this.renewing = setInterval(() => void this.renew(token), Math.max(10, Math.floor(this.ttlMs / 3)));
    this.renewing.unref();
    return true;
  }

  /** Ends the term locally (a settle or read was refused, or the TTL passed); Redis may still hold the key until it expires. */
  lost(why: string): void {
    if (this.current === undefined) return;
    this.logger.warn(
      { lease: this.key, token: this.current },
      `the ordered consumer ended its term as the active one: ${why}; its pending entries go to the next term`,
    );
    this.stale = this.current;
    this.stop();
  }

  /**
   * Deletes the key if it still holds the token of a term that ended here (compare-and-delete), so
   * the next term (this instance's or a standby's) need not wait for the TTL. Call it only once
   * that term's handlers have finished.
   */
  async releaseStale(): Promise<void> {
    const token = this.stale;
    if (token === undefined) return;
    await this.redis.flotillaBusLeaseRelease(this.key, token);
    this.stale = undefined;
  }

  /** Gives the lease up at once (compare-and-delete), so a standby takes over without waiting for the TTL. */
  async release(): Promise<void> {
    const token = this.current ?? this.stale;
    this.stale = undefined;
    this.stop();
    if (token !== undefined) await this.redis.flotillaBusLeaseRelease(this.key, token).catch(() => {});
  }

  /** Stops renewing without releasing, as a killed process would: the key expires after its TTL. */
  abandon(): void {
    this.stale = undefined;
    this.stop();
  }

  private stop(): void {
    this.current = undefined;
    this.validUntil = 0;
    clearInterval(this.renewing);
    this.renewing = undefined;
  }

  private async renew(token: string): Promise<void> {
    const sentAt = Date.now();
    try {
      const renewed = await this.redis.flotillaBusLeaseRenew(this.key, token, this.ttlMs);
      if (this.current !== token) return;
      if (renewed === 1) this.validUntil = sentAt + this.ttlMs;
      else this.lost('the key expired or another instance holds it');
    } catch (error) {
      // Kept until `validUntil`: the next renewal may get through in time.
      this.logger.warn({ err: error, lease: this.key }, 'renewing the ordered consumer lease failed');
    }
  }
}
