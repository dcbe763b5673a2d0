import type { Instance } from '../model.js';
import type { Strategy } from './strategy.js';

interface Counter {
  outstanding: number;
}

/**
 * The instance with the fewest calls in flight from this client (Ribbon's
 * `BestAvailableRule`). Ties are broken by a rotating start, so idle instances share the load
 * instead of the first one taking it all. A full scan: meant for tens of instances, not thousands
 * (use p2c-ewma there).
 */
export class LeastOutstanding implements Strategy {
  readonly name = 'least-outstanding';
  private readonly counters = new Map<string, Counter>();
  private rotate = 0;
  private slotsFor: readonly Instance[] | undefined;
  private slots: Counter[] = [];

  /** Calls in flight to `instanceId`. */
  outstanding(instanceId: string): number {
    return this.counters.get(instanceId)?.outstanding ?? 0;
  }

  pick(instances: readonly Instance[]): Instance | undefined {
    const n = instances.length;
    if (n === 0) return undefined;
    // Counters lined up with the array (rebuilt when it changes): the scan reads an array, not a map.
    if (this.slotsFor !== instances) {
      this.slots = instances.map((i) => this.counter(i.instanceId));
      this.slotsFor = instances;
    }
    const slots = this.slots;
    if (++this.rotate >= n) this.rotate = 0;
    let best = this.rotate;
    let bestCount = Number.POSITIVE_INFINITY;
    for (let k = 0; k < n; k++) {
      let i = this.rotate + k;
      if (i >= n) i -= n;
      const count = (slots[i] as Counter).outstanding;
      if (count < bestCount) {
        best = i;
        bestCount = count;
        if (count === 0) break;
      }
    }
    return instances[best];
  }

  onStart(instance: Instance): void {
    this.counter(instance.instanceId).outstanding++;
  }

  onEnd(instance: Instance): void {
    const counter = this.counters.get(instance.instanceId);
    if (counter && counter.outstanding > 0) counter.outstanding--;
  }

  onRemove(instanceId: string): void {
    this.counters.delete(instanceId);
  }

  private counter(instanceId: string): Counter {
    let counter = this.counters.get(instanceId);
    if (!counter) {
      counter = { outstanding: 0 };
      this.counters.set(instanceId, counter);
    }
    return counter;
  }
}

export const leastOutstanding = (): LeastOutstanding => new LeastOutstanding();
