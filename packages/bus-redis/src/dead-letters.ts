import { assertSelective, type DeadLetter, type DeadLetterFilter, type DeadLetterStore } from '@flotilla/bus';
import { newId } from '@flotilla/core';
import type { CopyBody } from './entry.js';
import { wrapRedis } from './errors.js';
import type { Keys } from './keys.js';
import type { ScriptedRedis } from './scripts.js';

function matches(entry: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    (filter.topic === undefined || entry.topic === filter.topic) &&
    (filter.group === undefined || entry.group === filter.group) &&
    (filter.ids === undefined || filter.ids.includes(entry.id))
  );
}

/**
 * Dead letters in a hash of JSON records (`<prefix>dlq`) indexed by time (`<prefix>dlq:index`).
 * Filters are applied in the client: listing reads the whole index, which suits a dead-letter
 * queue that is watched and drained, not one that holds millions of records.
 */
export class RedisDeadLetterStore implements DeadLetterStore {
  constructor(
    private readonly redis: () => ScriptedRedis,
    private readonly keys: Keys,
  ) {}

  async list(filter: DeadLetterFilter & { limit?: number } = {}): Promise<DeadLetter[]> {
    return (await this.matching(filter)).slice(0, filter.limit ?? 100);
  }

  async replay(filter: DeadLetterFilter): Promise<number> {
    assertSelective('replay', filter);
    const redis = this.redis();
    let count = 0;
    for (const entry of await this.matching(filter)) {
      const copy: CopyBody = {
        u: newId(),
        envelope: { ...entry.envelope, attempt: 1 },
        payload: entry.payload,
        attempt: 1,
      };
      const retryStream = this.keys.retry(entry.topic, entry.group);
      count += await wrapRedis('dead-letter replay', retryStream, () =>
        redis.flotillaBusReplay(
          this.keys.deadLetters,
          this.keys.deadLetterIndex,
          retryStream,
          entry.id,
          JSON.stringify(copy),
          entry.group,
        ),
      );
    }
    return count;
  }

  async purge(filter: DeadLetterFilter): Promise<number> {
    assertSelective('purge', filter);
    const ids = (await this.matching(filter)).map((entry) => entry.id);
    if (ids.length === 0) return 0;
    const redis = this.redis();
    const [[, removed] = []] =
      (await wrapRedis('dead-letter purge', this.keys.deadLetters, () =>
        redis
          .multi()
          .hdel(this.keys.deadLetters, ...ids)
          .zrem(this.keys.deadLetterIndex, ...ids)
          .exec(),
      )) ?? [];
    return Number(removed ?? 0);
  }

  private async matching(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    const redis = this.redis();
    const ids =
      filter.ids !== undefined
        ? [...filter.ids]
        : await wrapRedis('dead-letter list', this.keys.deadLetterIndex, () =>
            redis.zrange(this.keys.deadLetterIndex, 0, -1),
          );
    const out: DeadLetter[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const records = await wrapRedis('dead-letter list', this.keys.deadLetters, () =>
        redis.hmget(this.keys.deadLetters, ...chunk),
      );
      for (const record of records) {
        if (record === null) continue;
        const entry = JSON.parse(record) as DeadLetter;
        if (matches(entry, filter)) out.push(entry);
      }
    }
    // Ids are UUIDv7: sorting them sorts by time also when they were given in another order.
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}
