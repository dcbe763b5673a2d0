import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type RedisResource, requireServer, useRedis } from '@flotilla/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../errors.js';
import { RedisRateLimiter } from './redis-limiter.js';

const server = await requireServer('redis');
const skip = !server.ok;

let redis: RedisResource | undefined;
beforeAll(async () => {
  if (!skip) redis = await useRedis();
});
afterAll(async () => {
  await redis?.release();
});

/** A unique key prefix per test inside this file's testkit namespace. */
let counter = 0;
function prefix(): string {
  counter += 1;
  return `${redis?.prefix ?? ''}ratelimit:${counter}:`;
}

describe('RedisRateLimiter', () => {
  const clients: Redis[] = [];
  const client = () => {
    const c = new Redis(redis!.url, { maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };

  afterAll(async () => {
    for (const c of clients) {
      const keys = await c.keys('flotilla:test:ratelimit:*').catch(() => [] as string[]);
      if (keys.length > 0) await c.del(...keys).catch(() => 0);
      c.disconnect();
    }
  });

  it.skipIf(skip)('admits exactly `burst` calls at once, then refuses with retryAfterMs', async () => {
    const limiter = new RedisRateLimiter({ redis: client(), prefix: prefix(), limit: 5, periodMs: 60_000 });
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => limiter.execute(async () => 'ok')),
    );
    const refused = results
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(refused).toHaveLength(3);
    for (const error of refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      // One permit every 12 s: the next one is at most 12 s away.
      expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
      expect((error as RateLimitedError).retryAfterMs).toBeLessThanOrEqual(12_000);
    }
    expect(limiter.snapshot()).toMatchObject({ permittedCalls: 5, rejectedCalls: 3, backendErrors: 0 });
  });

  it.skipIf(skip)('keeps separate limits per key', async () => {
    const limiter = new RedisRateLimiter({ redis: client(), prefix: prefix(), limit: 1, periodMs: 60_000 });
    expect((await limiter.acquire('alice')).allowed).toBe(true);
    expect((await limiter.acquire('alice')).allowed).toBe(false);
    expect((await limiter.acquire('bob')).allowed).toBe(true);
    await expect(limiter.execute(async () => 1, { key: 'bob' })).rejects.toBeInstanceOf(RateLimitedError);
  });

  it.skipIf(skip)('shares one limit between two limiters on separate connections', async () => {
    const p = prefix();
    const a = new RedisRateLimiter({ redis: client(), prefix: p, limit: 10, periodMs: 3_600_000 });
    const b = new RedisRateLimiter({ redis: client(), prefix: p, limit: 10, periodMs: 3_600_000 });
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).acquire('shared')),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
  });

  it.skipIf(skip)('shares one limit between two separate Node processes', async () => {
    const p = prefix();
    const child = fileURLToPath(new URL('./fixtures/limiter-child.mjs', import.meta.url));
    const start = (): { proc: ChildProcessWithoutNullStreams; lines: AsyncIterator<string> } => {
      const proc = spawn(process.execPath, [child, redis!.url, p, 'shared', '25', '40'], {
        stdio: 'pipe',
      });
      proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
      return { proc, lines: createInterface({ input: proc.stdout })[Symbol.asyncIterator]() };
    };
    const children = [start(), start()];
    try {
      for (const c of children) expect((await c.lines.next()).value).toBe('ready');
      for (const c of children) c.proc.stdin.write('go\n');
      const tallies = await Promise.all(
        children.map(async (c) => JSON.parse((await c.lines.next()).value as string)),
      );
      expect(new Set(tallies.map((t) => t.pid)).size).toBe(2);
      // 80 attempts across two processes against one limit of 25.
      expect(tallies.reduce((n, t) => n + t.allowed, 0)).toBe(25);
      expect(tallies.reduce((n, t) => n + t.denied, 0)).toBe(55);
      await Promise.all(children.map((c) => (c.proc.exitCode === null ? once(c.proc, 'exit') : undefined)));
      expect(children.map((c) => c.proc.exitCode)).toEqual([0, 0]);
    } finally {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    }
  });

  it.skipIf(skip)(
    'admits calls when Redis fails and failOpen is on, refuses them when it is off',
    async () => {
      const dead = new Redis('redis://127.0.0.1:1', {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      });
      dead.on('error', () => {});
      const open = new RedisRateLimiter({ redis: dead, prefix: prefix(), limit: 1 });
      await expect(open.execute(async () => 'served')).resolves.toBe('served');
      expect(open.snapshot().backendErrors).toBe(1);
      const closed = new RedisRateLimiter({
        redis: dead,
        prefix: prefix(),
        limit: 1,
        failOpen: false,
        name: 'strict',
      });
      await expect(closed.execute(async () => 'served')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      dead.disconnect();
    },
  );

  it('rejects bad configuration naming the field', () => {
    expect(() => new RedisRateLimiter({ redis: {} as Redis, limit: 1 })).toThrow(
      'RedisRateLimiter redis should be an ioredis client, got [object Object]',
    );
  });
});
