import type { SlidingWindow } from './sliding-window.js';

const FAILED = 1;
const SLOW = 2;

/**
 * The last `size` outcomes, in a ring buffer of one byte each with running totals: recording
 * overwrites the oldest outcome and adjusts the totals, O(1) with no allocation.
 */
export class CountWindow implements SlidingWindow {
  calls = 0;
  failures = 0;
  slowCalls = 0;
  private readonly ring: Uint8Array;
  private pos = 0;

  constructor(readonly capacity: number) {
    this.ring = new Uint8Array(capacity);
  }

  record(_now: number, failed: boolean, slow: boolean): void {
    const code = (failed ? FAILED : 0) | (slow ? SLOW : 0);
    if (this.calls === this.capacity) {
      const old = this.ring[this.pos]!;
      this.failures -= old & FAILED;
      this.slowCalls -= (old & SLOW) >> 1;
    } else {
      this.calls++;
    }
    this.ring[this.pos] = code;
    this.failures += code & FAILED;
    this.slowCalls += (code & SLOW) >> 1;
    this.pos = this.pos + 1 === this.capacity ? 0 : this.pos + 1;
  }

  advance(_now: number): void {}

  reset(): void {
    this.calls = 0;
    this.failures = 0;
    this.slowCalls = 0;
    this.pos = 0;
  }
}
