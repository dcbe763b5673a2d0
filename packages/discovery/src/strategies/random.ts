import type { Instance } from '../model.js';
import type { Strategy } from './strategy.js';

/** A uniformly random instance: no coordination between clients, no state. */
export class RandomStrategy implements Strategy {
  readonly name = 'random';

  constructor(private readonly random: () => number = Math.random) {}

  pick(instances: readonly Instance[]): Instance | undefined {
    return instances[Math.floor(this.random() * instances.length)];
  }
}

export const random = (options: { random?: () => number } = {}): RandomStrategy =>
  new RandomStrategy(options.random);
