import type { UpstreamGuards } from '../upstreams/policies.js';

/**
 * One attempt's admissions by its upstream's guards, on the fast-path front: the breaker's
 * permit, then a bulkhead slot, as the node:http path's pipeline admits an attempt (breaker
 * outermost), and both handed back once with the attempt's outcome.
 */
export class AttemptAdmission {
  /** The breaker's permit held; -1 for none. */
  private permit = -1;
  /** Whether a bulkhead slot is held. */
  private slot = false;
  /** When the permit was taken, on the breaker's clock (the call's duration for slow calls). */
  private admitted = 0;

  constructor(private readonly guards: UpstreamGuards) {}

  /**
   * Takes the breaker's permit, then a bulkhead slot; throws the refusal (`BrokenCircuitError`,
   * `BulkheadRejectedError`), the permit handed back when the bulkhead refuses.
   */
  admit(): void {
    const { breaker, bulkhead } = this.guards;
    if (breaker !== undefined) {
      // Times on the breaker's own clock: the end of a failed call may become its opening time.
      this.admitted = breaker.clock.now();
      this.permit = breaker.acquirePermission(this.admitted);
    }
    if (bulkhead === undefined) return;
    try {
      bulkhead.acquirePermission();
    } catch (rejection) {
      if (this.permit >= 0) breaker!.releasePermission(this.permit);
      this.permit = -1;
      throw rejection;
    }
    this.slot = true;
  }

  /**
   * Hands what is held back, once: the bulkhead's slot, and the breaker's permit with the
   * attempt's outcome (`error` undefined for an answer below 500), which the breaker classifies
   * as on the node:http path, or unused when the attempt never `ran`.
   */
  release(error: unknown, ran = true): void {
    if (this.slot) {
      this.slot = false;
      this.guards.bulkhead!.onComplete();
    }
    const permit = this.permit;
    if (permit < 0) return;
    this.permit = -1;
    const breaker = this.guards.breaker!;
    if (!ran) breaker.releasePermission(permit);
    else if (error === undefined) breaker.onSuccess(permit, this.admitted, breaker.clock.now());
    else breaker.onError(permit, this.admitted, breaker.clock.now(), error);
  }
}
