import {
  assertSelective,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterStore,
} from '../dead-letter.js';
import type { MemoryBroker } from './broker.js';

function matches(entry: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    (filter.topic === undefined || entry.topic === filter.topic) &&
    (filter.group === undefined || entry.group === filter.group) &&
    (filter.ids === undefined || filter.ids.includes(entry.id))
  );
}

/** Dead letters kept in the broker's memory, oldest first. */
export class MemoryDeadLetterStore implements DeadLetterStore {
  constructor(private readonly broker: MemoryBroker) {}

  async list(filter: DeadLetterFilter & { limit?: number } = {}): Promise<DeadLetter[]> {
    const out: DeadLetter[] = [];
    for (const entry of this.broker.deadLetters.values()) {
      if (out.length >= (filter.limit ?? 100)) break;
      if (matches(entry, filter)) out.push(entry);
    }
    return out;
  }

  async replay(filter: DeadLetterFilter): Promise<number> {
    assertSelective('replay', filter);
    let count = 0;
    for (const entry of [...this.broker.deadLetters.values()]) {
      if (!matches(entry, filter)) continue;
      this.broker.deadLetters.delete(entry.id);
      this.broker.queue(entry.topic, entry.group).push({
        topic: entry.topic,
        envelope: { ...entry.envelope, attempt: 1 },
        payload: entry.payload,
      });
      count++;
    }
    return count;
  }

  async purge(filter: DeadLetterFilter): Promise<number> {
    assertSelective('purge', filter);
    let count = 0;
    for (const entry of [...this.broker.deadLetters.values()]) {
      if (matches(entry, filter)) {
        this.broker.deadLetters.delete(entry.id);
        count++;
      }
    }
    return count;
  }
}
