/**
 * The last good answer per key, kept in memory to answer with when the source is down. Bounded:
 * past `max` keys the least recently stored one goes (a Map iterates in insertion order, and a
 * key stored again moves to the end).
 */
export class LastGood<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly max = 10_000) {}

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get(key: string): V | undefined {
    return this.entries.get(key);
  }
}
