import type { Clock, TimerHandle } from '@flotilla/core';

/** A node of a `DeadlineList` (fields live on the node, so linking allocates nothing). */
export interface TimedNode {
  at: number;
  prev: TimedNode | undefined;
  next: TimedNode | undefined;
  listed: boolean;
}

/**
 * Pending deadlines (of attempts, of hedges) as a list sorted by time, driven by one timer.
 *
 * A timer per call (what `setTimeout` per attempt costs) is the largest overhead of a timeout
 * policy. With a fixed timeout, deadlines arrive in increasing order, so inserting from the tail
 * is O(1); removing a finished attempt is an O(1) unlink. The single timer is armed for the
 * head and is not re-armed when the head finishes early: it fires, finds nothing due, and
 * re-arms for the new head, so steady traffic costs one timer per timeout period, not per call.
 */
export class DeadlineList<N extends TimedNode> {
  private head: TimedNode | undefined = undefined;
  private tail: TimedNode | undefined = undefined;
  private handle: TimerHandle | undefined = undefined;
  private armedAt = Number.POSITIVE_INFINITY;
  private readonly fire: () => void;

  constructor(
    private readonly clock: Clock,
    private readonly onExpire: (node: N) => void,
  ) {
    this.fire = () => this.sweep();
  }

  insert(node: N, at: number): void {
    node.at = at;
    node.listed = true;
    let after = this.tail;
    while (after !== undefined && after.at > at) after = after.prev;
    if (after === undefined) {
      node.prev = undefined;
      node.next = this.head;
      if (this.head !== undefined) this.head.prev = node;
      else this.tail = node;
      this.head = node;
      if (at < this.armedAt) this.arm(at);
    } else {
      node.prev = after;
      node.next = after.next;
      if (after.next !== undefined) after.next.prev = node;
      else this.tail = node;
      after.next = node;
    }
  }

  remove(node: N): void {
    if (!node.listed) return;
    node.listed = false;
    const { prev, next } = node;
    if (prev !== undefined) prev.next = next;
    else this.head = next;
    if (next !== undefined) next.prev = prev;
    else this.tail = prev;
    node.prev = undefined;
    node.next = undefined;
  }

  private arm(at: number): void {
    if (this.handle !== undefined) this.clock.clearTimeout(this.handle);
    this.armedAt = at;
    this.handle = this.clock.setTimeout(this.fire, Math.max(0, at - this.clock.now()));
  }

  private sweep(): void {
    this.handle = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    for (let node = this.head; node !== undefined && node.at <= now; node = this.head) {
      this.remove(node as N);
      this.onExpire(node as N);
    }
    // Timers may fire a millisecond early against the wall clock; re-arm at least 1 ms ahead.
    if (this.head !== undefined) {
      this.armedAt = this.head.at;
      this.handle = this.clock.setTimeout(this.fire, Math.max(1, this.head.at - now));
    }
  }

  /** Number of listed deadlines (for tests and snapshots). */
  get size(): number {
    let n = 0;
    for (let node = this.head; node !== undefined; node = node.next) n++;
    return n;
  }
}
