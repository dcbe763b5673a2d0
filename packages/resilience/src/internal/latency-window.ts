/**
 * Latency percentile over the last `size` samples in O(1) memory and time per sample: a ring
 * remembers which bucket each sample went to, so the oldest can be taken out again, and a
 * log-bucketed histogram (buckets 5 % wide, up to about an hour) answers the percentile. The
 * answer is the upper edge of its bucket, so it errs up by less than 5 %: a hedge fires at most
 * that much later than the exact percentile would have it, never earlier.
 */

const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Bucket 0 holds [0, 1) ms; bucket i ≥ 1 holds [GROWTH^(i-1), GROWTH^i) ms. */
const BUCKETS = 1 + Math.ceil(Math.log(3_600_000) / LOG_GROWTH);

function bucketOf(ms: number): number {
  if (!(ms >= 1)) return 0;
  const i = 1 + Math.floor(Math.log(ms) / LOG_GROWTH);
  return i < BUCKETS ? i : BUCKETS - 1;
}

export class LatencyWindow {
  private readonly ring: Uint16Array;
  private readonly counts = new Uint32Array(BUCKETS);
  private next = 0;
  private filled = 0;
  private cached = 0;
  private dirty = false;

  constructor(
    readonly size: number,
    /** Percentile in (0, 100). */
    private readonly percentile: number,
  ) {
    this.ring = new Uint16Array(size);
  }

  /** Samples held (at most `size`). */
  get count(): number {
    return this.filled;
  }

  add(ms: number): void {
    const b = bucketOf(ms);
    if (this.filled === this.size) this.counts[this.ring[this.next]!]!--;
    else this.filled++;
    this.ring[this.next] = b;
    this.counts[b]!++;
    this.next = this.next + 1 === this.size ? 0 : this.next + 1;
    this.dirty = true;
  }

  /** The percentile of the samples held, in ms (0 when there are none). */
  value(): number {
    if (!this.dirty) return this.cached;
    this.dirty = false;
    // Nearest-rank: the smallest latency at least `percentile` % of samples do not exceed.
    const rank = Math.max(1, Math.ceil((this.percentile / 100) * this.filled));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        this.cached = i === 0 ? 1 : GROWTH ** i;
        return this.cached;
      }
    }
    this.cached = 0;
    return 0;
  }
}
