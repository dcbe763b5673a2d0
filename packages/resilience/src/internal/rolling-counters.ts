/**
 * Counters over a sliding time window, kept as a ring of fixed-width buckets with running
 * totals (resilience4j's "partial aggregations"). Adding is O(1); moving to a new bucket clears
 * the buckets that fell out of the window, at most `buckets` of them, so the cost per event
 * stays O(1) amortized and bounded even after a long idle period.
 *
 * A bucket covers `[k * bucketMs, (k + 1) * bucketMs)`; at time `now` the window holds the
 * buckets `k` with `epoch(now) - buckets < k <= epoch(now)`.
 */
export class RollingCounters {
  /** Running totals, one per field. */
  readonly totals: Float64Array;
  private readonly values: Float64Array;
  private readonly epochs: Float64Array;
  private head = Number.NEGATIVE_INFINITY;
  /** Time range of the head bucket, so the common case (same bucket as last time) skips the math. */
  private headStart = Number.POSITIVE_INFINITY;
  private headEnd = Number.NEGATIVE_INFINITY;
  private headSlot = 0;

  constructor(
    private readonly fields: number,
    private readonly buckets: number,
    private readonly bucketMs: number,
  ) {
    this.totals = new Float64Array(fields);
    this.values = new Float64Array(fields * buckets);
    this.epochs = new Float64Array(buckets).fill(Number.NEGATIVE_INFINITY);
  }

  /** Drops buckets that left the window as of `now`; returns the slot of `now`'s bucket. */
  advance(now: number): number {
    if (now >= this.headStart && now < this.headEnd) return this.headSlot;
    const epoch = Math.floor(now / this.bucketMs);
    if (epoch > this.head) {
      const from = epoch - this.head > this.buckets ? epoch - this.buckets + 1 : this.head + 1;
      for (let e = from; e <= epoch; e++) this.clear(this.slotOf(e), e);
      this.head = epoch;
      this.headStart = epoch * this.bucketMs;
      this.headEnd = this.headStart + this.bucketMs;
      this.headSlot = this.slotOf(epoch);
    }
    // A clock that stepped back keeps counting in the newest bucket.
    return this.headSlot;
  }

  /** Adds `n` to `field` at time `now`. */
  add(now: number, field: number, n = 1): void {
    const slot = this.advance(now);
    this.values[slot * this.fields + field]! += n;
    this.totals[field]! += n;
  }

  /** Forgets everything. */
  reset(): void {
    this.totals.fill(0);
    this.values.fill(0);
    this.epochs.fill(Number.NEGATIVE_INFINITY);
    this.head = Number.NEGATIVE_INFINITY;
    this.headStart = Number.POSITIVE_INFINITY;
    this.headEnd = Number.NEGATIVE_INFINITY;
  }

  private slotOf(epoch: number): number {
    const m = epoch % this.buckets;
    return m < 0 ? m + this.buckets : m;
  }

  private clear(slot: number, epoch: number): void {
    const base = slot * this.fields;
    for (let f = 0; f < this.fields; f++) {
      this.totals[f]! -= this.values[base + f]!;
      this.values[base + f] = 0;
    }
    this.epochs[slot] = epoch;
  }
}
