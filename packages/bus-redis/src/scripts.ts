import type { Redis } from 'ioredis';
import type { RawEntry } from './entry.js';

/**
 * Lua scripts: each settle that touches more than one key, or must check who holds an entry
 * before changing it, runs as one script so it is atomic on the server. ioredis sends them
 * with EVALSHA and falls back to EVAL after a server restart (NOSCRIPT).
 */

/**
 * An ordered consumer's settles carry its lease token (last ARGV) and the lease key (last KEYS):
 * once the lease is gone or held by another instance, the settle is refused (-1) and the entry stays
 * pending for the next owner. An empty token (unordered consumers) skips the check.
 */
const FENCE = `
if ARGV[#ARGV] ~= '' and redis.call('GET', KEYS[#KEYS]) ~= ARGV[#ARGV] then return -1 end
`;

/** Only the consumer that still holds an entry may retry or dead-letter it. */
const OWNED = `${FENCE}
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1, ARGV[3])
if #p == 0 then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if ARGV[4] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
`;

const SCRIPTS = {
  /**
   * KEYS stream, delayed, lease · ARGV group, id, consumer, delete, dueAt, member, token → 1, 0 if
   * not held, -1 if the lease is lost.
   */
  flotillaBusRetry: {
    numberOfKeys: 3,
    lua: `${OWNED}
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
return 1`,
  },
  /** KEYS stream, dlq hash, dlq index, lease · ARGV group, id, consumer, delete, recordId, record, score, token. */
  flotillaBusDeadLetter: {
    numberOfKeys: 4,
    lua: `${OWNED}
redis.call('HSET', KEYS[2], ARGV[5], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[5])
return 1`,
  },
  /** KEYS stream, lease · ARGV group, id, delete, token: acknowledges (and deletes a retry copy). */
  flotillaBusAck: {
    numberOfKeys: 2,
    lua: `${FENCE}
local n = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
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
  /** KEYS lease · ARGV token, ttlMs → 1 if this token still holds the lease (extended), else 0. */
  flotillaBusLeaseRenew: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
  },
  /** KEYS lease · ARGV token: deletes the lease if this token holds it. */
  flotillaBusLeaseRelease: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`,
  },
  /**
   * KEYS stream, lease · ARGV group, consumer, token → entries moved, or -1 if the lease is lost.
   * A new lease holder moves every entry pending under another consumer of the group to itself
   * (JUSTID: not counted as a delivery yet; reading it back counts it). No idle time is needed:
   * the previous holder's lease is gone, and its late settles are refused by the fence.
   */
  flotillaBusTakeOver: {
    numberOfKeys: 2,
    lua: `${FENCE}
local n, start = 0, '-'
while true do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], start, '+', 100)
  for _, e in ipairs(p) do
    if e[2] ~= ARGV[2] then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e[1], 'JUSTID')
      n = n + 1
    end
  end
  if #p < 100 then return n end
  start = '(' .. p[#p][1]
end`,
  },
  /**
   * KEYS stream, lease · ARGV group, consumer, ids…, token → the entries (XCLAIM: counted as a
   * delivery), or -1 if the lease is lost. An ordered consumer reads its own pending entries back.
   */
  flotillaBusClaimOwn: {
    numberOfKeys: 2,
    lua: `${FENCE}
return redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, unpack(ARGV, 3, #ARGV - 1))`,
  },
  /**
   * KEYS stream, lease · ARGV group, consumer, id, token → the entry's new delivery count, 0 if not
   * held, -1 if the lease is lost. An in-place retry of an ordered consumer counts as a delivery.
   */
  flotillaBusRedeliver: {
    numberOfKeys: 2,
    lua: `${FENCE}
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'RETRYCOUNT', p[1][4] + 1, 'JUSTID')
return p[1][4] + 1`,
  },
  /**
   * KEYS topic stream, retry stream, lease · ARGV group, consumer, count, token → -1 if the lease is
   * lost; {1, entries} with what XREADGROUP returned; or {0, lastId, lastId} when nothing was new,
   * the streams' last ids to block on. Reading under the lease check in one step means no entry is
   * handed to a consumer whose lease is already gone (it would sit unseen in that consumer's list).
   */
  flotillaBusOrderedRead: {
    numberOfKeys: 3,
    lua: `${FENCE}
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], KEYS[2], '>', '>')
if r then return {1, r} end
local function last(key)
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
return {0, last(KEYS[1]), last(KEYS[2])}`,
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
  flotillaBusLeaseRenew(...args: Arg[]): Promise<number>;
  flotillaBusLeaseRelease(...args: Arg[]): Promise<number>;
  flotillaBusTakeOver(...args: Arg[]): Promise<number>;
  flotillaBusClaimOwn(...args: Arg[]): Promise<RawEntry[] | -1>;
  flotillaBusRedeliver(...args: Arg[]): Promise<number>;
  flotillaBusOrderedRead(...args: Arg[]): Promise<-1 | [1, [string, RawEntry[]][]] | [0, string, string]>;
}

/** A connection with the adapter's scripts defined. */
export type ScriptedRedis = Redis & ScriptCommands;

/** Defines the scripts on `redis` (once per connection object). */
export function withScripts(redis: Redis): ScriptedRedis {
  for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, script);
  return redis as ScriptedRedis;
}
