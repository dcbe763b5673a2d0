/** Something that knows how many bytes it holds. */
export interface Sized {
  readonly size: number;
}

/**
 * A least-recently-used map bounded by the total `size` of its values, not by their count, so
 * a cache of responses uses bounded memory whatever the mix of small and large bodies. A Map
 * keeps insertion order; re-inserting on read moves an entry to the young end.
 */
export class LruBytes<V extends Sized> {
  private readonly map = new Map<string, V>();
  private total = 0;
  /** Entries dropped to make room (not counting deletions and replacements). */
  evictions = 0;

  constructor(readonly maxBytes: number) {}

  /** The value, marked as recently used. */
  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** Stores `value`, evicting the least recently used entries until everything fits. */
  set(key: string, value: V): boolean {
    this.delete(key);
    if (value.size > this.maxBytes) return false;
    this.map.set(key, value);
    this.total += value.size;
    for (const [oldKey, old] of this.map) {
      if (this.total <= this.maxBytes) break;
      this.map.delete(oldKey);
      this.total -= old.size;
      this.evictions++;
    }
    return true;
  }

  delete(key: string): void {
    const value = this.map.get(key);
    if (value === undefined) return;
    this.map.delete(key);
    this.total -= value.size;
  }

  get bytes(): number {
    return this.total;
  }

  get count(): number {
    return this.map.size;
  }
}
