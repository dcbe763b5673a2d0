import { type AddressInfo, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../ports.js';
import { probeEtcd } from './etcd.js';
import { probeNats } from './nats.js';
import { probePostgres } from './postgres.js';
import { type ProbeResult, redactUrl } from './probe.js';
import { probeRabbitmq } from './rabbitmq.js';
import { probeRedis } from './redis.js';
import { requireServer } from './require.js';

function reasonOf(result: ProbeResult): string {
  return result.ok ? `reachable at ${result.url}` : result.reason;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('server probes', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('name the server, its URL and the error when nothing listens there', async () => {
    const port = await freePort();
    const results = await Promise.all([
      probePostgres(`postgres://postgres@127.0.0.1:${port}/postgres`),
      probeRabbitmq(`amqp://guest:secret@127.0.0.1:${port}`),
      probeNats(`nats://127.0.0.1:${port}`),
      probeRedis(`redis://127.0.0.1:${port}`),
      probeEtcd(`http://127.0.0.1:${port}`),
    ]);
    expect(results.map(reasonOf)).toEqual(
      [
        `PostgreSQL at postgres://postgres@127.0.0.1:${port}/postgres`,
        `RabbitMQ at amqp://guest:***@127.0.0.1:${port}`,
        `NATS JetStream at nats://127.0.0.1:${port}`,
        `Redis at redis://127.0.0.1:${port}`,
        `etcd at http://127.0.0.1:${port}`,
      ].map((where) =>
        expect.stringMatching(new RegExp(`^${escapeRegExp(where)} unreachable: .*ECONNREFUSED`)),
      ),
    );
  });

  it('give up on a server that accepts connections but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const results = await Promise.all([
        probePostgres(`postgres://postgres@127.0.0.1:${port}/postgres`),
        probeRabbitmq(`amqp://guest:guest@127.0.0.1:${port}`),
        probeNats(`nats://127.0.0.1:${port}`),
        probeRedis(`redis://127.0.0.1:${port}`),
        probeEtcd(`http://127.0.0.1:${port}`),
      ]);
      for (const result of results) expect(result.ok).toBe(false);
      expect(reasonOf(results[3]!)).toMatch(/^Redis at redis:\/\/127.0.0.1:\d+ unreachable: .*time/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('hide passwords in the URLs they print', () => {
    expect(redactUrl('amqp://guest:guest@localhost:5672/v')).toBe('amqp://guest:***@localhost:5672/v');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('report a missing server as a failure when services are required', async () => {
    vi.stubEnv('FLOTILLA_TEST_REDIS_URL', `redis://127.0.0.1:${await freePort()}`);
    vi.stubEnv('FLOTILLA_REQUIRE_SERVICES', '1');
    await expect(requireServer('redis')).rejects.toThrow(
      /Redis at .* unreachable: .*FLOTILLA_REQUIRE_SERVICES=1/,
    );
  });

  it('report a missing server as a failed probe to skip on otherwise', async () => {
    vi.stubEnv('FLOTILLA_TEST_REDIS_URL', `redis://127.0.0.1:${await freePort()}`);
    vi.stubEnv('FLOTILLA_REQUIRE_SERVICES', '');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const result = await requireServer('redis');
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/^Redis at .* unreachable/) });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('skipping tests that need Redis'));
    warn.mockRestore();
  });
});
