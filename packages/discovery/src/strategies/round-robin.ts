import type { Instance } from '../model.js';
import type { Strategy } from './strategy.js';

/** Each instance in turn. The default: even spread, no state beyond a counter. */
export class RoundRobin implements Strategy {
  readonly name = 'round-robin';
  private next = 0;

  pick(instances: readonly Instance[]): Instance | undefined {
    const n = instances.length;
    if (n === 0) return undefined;
    if (this.next >= n) this.next = 0;
    return instances[this.next++];
  }
}

export const roundRobin = (): RoundRobin => new RoundRobin();
