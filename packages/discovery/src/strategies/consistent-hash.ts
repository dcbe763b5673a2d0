import { ConfigurationError } from '@flotilla/core';
import type { Instance } from '../model.js';
import type { PickOptions, Strategy } from './strategy.js';

/** 32-bit FNV-1a over UTF-16 code units, finished with MurmurHash3's avalanche step. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export interface ConsistentHashOptions {
  /** Points per instance on the ring. More points, more even spread. Default 160 (ketama's). */
  virtualNodes?: number;
  /** Used when a pick has no key. Default Math.random. */
  random?: () => number;
}

/**
 * Consistent hashing on a ring with virtual nodes (ketama): a key goes to the first instance
 * point clockwise from its hash. When an instance joins or leaves, only the keys of its arcs
 * move (about 1/n of them), so per-key caches and sessions on the other instances stay warm.
 * Points are placed by instance id, so a re-registration on another port keeps its keys. The
 * ring is rebuilt only when the instance array changes; a pick is a hash and a binary search.
 * A pick without a key is random.
 */
export class ConsistentHash implements Strategy {
  readonly name = 'consistent-hash';
  private readonly virtualNodes: number;
  private readonly random: () => number;
  private ringFor: readonly Instance[] | undefined;
  private points = new Uint32Array(0);
  private owners = new Uint32Array(0);

  constructor(options: ConsistentHashOptions = {}) {
    this.virtualNodes = options.virtualNodes ?? 160;
    this.random = options.random ?? Math.random;
    if (!Number.isInteger(this.virtualNodes) || this.virtualNodes < 1) {
      throw new ConfigurationError(
        `ConsistentHash virtualNodes should be an integer ≥ 1, got ${options.virtualNodes}`,
      );
    }
  }

  pick(instances: readonly Instance[], options?: PickOptions): Instance | undefined {
    const n = instances.length;
    if (n <= 1) return instances[0];
    const key = options?.key;
    if (key === undefined) return instances[Math.floor(this.random() * n)];
    if (this.ringFor !== instances) this.build(instances);
    const { points } = this;
    const h = hash32(key);
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((points[mid] as number) < h) lo = mid + 1;
      else hi = mid;
    }
    if (lo === points.length) lo = 0;
    return instances[this.owners[lo] as number];
  }

  private build(instances: readonly Instance[]): void {
    const total = instances.length * this.virtualNodes;
    const entries: [number, number, string][] = new Array(total);
    let k = 0;
    for (let i = 0; i < instances.length; i++) {
      const id = (instances[i] as Instance).instanceId;
      for (let v = 0; v < this.virtualNodes; v++) entries[k++] = [hash32(`${id}#${v}`), i, id];
    }
    // Ties on a point go to the smaller id, so the ring does not depend on the array's order.
    entries.sort((a, b) => a[0] - b[0] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0));
    this.points = new Uint32Array(total);
    this.owners = new Uint32Array(total);
    for (let j = 0; j < total; j++) {
      const entry = entries[j] as [number, number, string];
      this.points[j] = entry[0];
      this.owners[j] = entry[1];
    }
    this.ringFor = instances;
  }
}

export const consistentHash = (options?: ConsistentHashOptions): ConsistentHash =>
  new ConsistentHash(options);
