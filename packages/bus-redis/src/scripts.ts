import type { Redis } from 'ioredis';

/**
 * Lua scripts: each settle that touches more than one key, or must check who holds an entry
 * before changing it, runs as one script so it is atomic on the server. ioredis sends them
 * with EVALSHA and falls back to EVAL after a server restart (NOSCRIPT).
 */

/** Only the consumer that still holds an entry may retry or dead-letter it. */
const OWNED = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #p == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
`;

const SCRIPTS = {
  /** KEYS stream, delayed · ARGV group, id, consumer, delete, dueAt, member → 1, or 0 if not held. */
  flotillaBusRetry: {
    numberOfKeys: 2,
    lua: `${OWNED}
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
return 1`,
  },
  /** KEYS stream, dlq hash, dlq index · ARGV group, id, consumer, delete, recordId, record, score. */
  flotillaBusDeadLetter: {
    numberOfKeys: 3,
    lua: `${OWNED}
redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[5])
return 1`,
  },
  /** KEYS stream · ARGV group, id, delete: acknowledges (and deletes a retry copy). */
  flotillaBusAck: {
    numberOfKeys: 1,
    lua: `local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
return n`,
  },
  /** KEYS delayed, retry stream · ARGV now, limit: moves due retries to the group's retry stream. */
  flotillaBusPromote: {
    numberOfKeys: 2,
    lua: `local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'r', m)
  redis.call('ZREM', KEYS[1], m)
end
return #due`,
  },
  /**
   * KEYS stream · ARGV group, consumer, ids…: resets the idle time of the entries this consumer
   * still holds (a lease renewal), without stealing one that XAUTOCLAIM gave to someone else.
   */
  flotillaBusRenew: {
    numberOfKeys: 1,
    lua: `local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    n = n + 1
  end
end
return n`,
  },
  /** KEYS dlq hash, dlq index, retry stream · ARGV recordId, entry, group: one replay. */
  flotillaBusReplay: {
    numberOfKeys: 3,
    lua: `if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.pcall('XGROUP', 'CREATE', KEYS[3], ARGV[3], '0', 'MKSTREAM')
redis.call('XADD', KEYS[3], '*', 'r', ARGV[2])
return 1`,
  },
  /**
   * KEYS stream · ARGV group, minIdleMs, name ('' for any): deletes consumers that hold nothing
   * and were idle that long (the names of stopped instances), checked and deleted atomically
   * so no pending entry is dropped with its consumer.
   */
  flotillaBusPrune: {
    numberOfKeys: 1,
    lua: `local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) and (ARGV[3] == '' or f['name'] == ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n`,
  },
} as const;

type Arg = string | number;

/** The scripts as typed methods of a connection. */
export interface ScriptCommands {
  flotillaBusRetry(...args: Arg[]): Promise<number>;
  flotillaBusDeadLetter(...args: Arg[]): Promise<number>;
  flotillaBusAck(...args: Arg[]): Promise<number>;
  flotillaBusPromote(...args: Arg[]): Promise<number>;
  flotillaBusRenew(...args: Arg[]): Promise<number>;
  flotillaBusReplay(...args: Arg[]): Promise<number>;
  flotillaBusPrune(...args: Arg[]): Promise<number>;
}

/** A connection with the adapter's scripts defined. */
export type ScriptedRedis = Redis & ScriptCommands;

/** Defines the scripts on `redis` (once per connection object). */
export function withScripts(redis: Redis): ScriptedRedis {
  for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, script);
  return redis as ScriptedRedis;
}
