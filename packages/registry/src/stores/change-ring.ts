import type { Change } from '../model.js';

/**
 * The most recent changes, bounded, for `changesSince` in stores without a durable change log.
 * Revisions must be pushed in increasing order; they need not be contiguous (etcd's are not).
 */
export class ChangeRing {
  private readonly items: Change[] = [];
  /** Revision before the oldest retained change: every change after it is here. */
  private floor: number;

  constructor(
    private readonly capacity: number,
    startRevision = 0,
  ) {
    this.floor = startRevision;
  }

  /** Revision of the newest change held (or the floor when empty). */
  get latest(): number {
    return this.items[this.items.length - 1]?.revision ?? this.floor;
  }

  push(change: Change): void {
    this.items.push(change);
    if (this.items.length > this.capacity) {
      // Dropping the oldest raises the floor to it: a resume from before it must snapshot.
      const dropped = this.items.splice(0, this.items.length - this.capacity);
      this.floor = dropped[dropped.length - 1]?.revision ?? this.floor;
    }
  }

  /** Restarts the ring at `revision` (after a resync): nothing older can be served. */
  reset(revision: number): void {
    this.items.length = 0;
    this.floor = revision;
  }

  /** Changes after `revision` up to `current`, or undefined when some are no longer retained. */
  since(revision: number, current: number): Change[] | undefined {
    if (!Number.isSafeInteger(revision) || revision < this.floor || revision > current) return undefined;
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.items[mid]?.revision ?? 0) <= revision) lo = mid + 1;
      else hi = mid;
    }
    return this.items.slice(lo);
  }
}
