/**
 * Redis for tests: a unique key prefix per test; afterwards every key under it is deleted.
 */
import { Redis } from 'ioredis';
import { uniqueToken } from '../names.js';
import { PROBE_TIMEOUT_MS, type ProbeResult, probeOnce, reachableOrSkip, type SkipFn } from './probe.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Redis URL from `FLOTILLA_TEST_REDIS_URL`, else the local server. */
export function redisUrl(): string {
  return process.env.FLOTILLA_TEST_REDIS_URL || DEFAULT_REDIS_URL;
}

/** A client that gives up at once instead of reconnecting forever. */
function oneShotClient(url: string, timeoutMs: number): Redis {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  return client;
}

/** Connects and sends `PING`; cached per process and URL. */
export function probeRedis(url: string = redisUrl()): Promise<ProbeResult> {
  return probeOnce('redis', url, async (target) => {
    const client = oneShotClient(target, PROBE_TIMEOUT_MS);
    let socketError: unknown;
    client.on('error', (error) => {
      socketError ??= error;
    });
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      // ioredis rejects with "Connection is closed."; the cause came as an 'error' event.
      throw socketError ?? error;
    } finally {
      client.disconnect();
    }
  });
}

/** A Redis key space of its own for one test. */
export interface RedisFixture {
  readonly url: string;
  /** Unique key prefix (`t_<hex>:`); every key the test writes should start with it. */
  readonly prefix: string;
}

/** A test's key prefix plus the call that deletes its keys. */
export interface RedisResource extends RedisFixture {
  /** Deletes every key matching `prefix*`. */
  release(): Promise<void>;
}

/** Deletes every key starting with `prefix` (found with SCAN, so the server is never blocked). */
export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const client = oneShotClient(url, 10_000);
  try {
    await client.connect();
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    client.disconnect();
  }
}

/** Hands a test a unique key prefix. Skips through `skip` (or fails in required mode) when unreachable. */
export async function useRedis(options: { skip?: SkipFn; url?: string } = {}): Promise<RedisResource> {
  const url = reachableOrSkip('redis', await probeRedis(options.url), options.skip);
  const prefix = `${uniqueToken()}:`;
  return {
    url,
    prefix,
    release: async () => {
      await deleteRedisKeys(url, prefix);
    },
  };
}
