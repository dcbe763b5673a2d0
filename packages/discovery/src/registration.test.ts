import { createLogger, ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { instance } from './fixtures/instances.js';
import { Registration, renewalDelay } from './registration.js';

type Answer = number | Error;

/** A registry stand-in: records requests, answers heartbeats with the scripted statuses. */
function fakeRegistry(heartbeats: Answer[] = []) {
  const calls: string[] = [];
  let registrations = 0;
  const fetch = (async (url: string, init: RequestInit) => {
    const method = init.method ?? 'GET';
    calls.push(`${method} ${new URL(url).pathname}`);
    if (method === 'POST') {
      registrations++;
      const body = JSON.parse(String(init.body));
      return Response.json(instance(body.instanceId, { lease: body.lease }), { status: 201 });
    }
    if (method === 'PUT') {
      const next = heartbeats.shift() ?? 200;
      if (next instanceof Error) throw next;
      return next === 404
        ? Response.json({ status: 404, code: 'INSTANCE_NOT_REGISTERED' }, { status: 404 })
        : Response.json({}, { status: next });
    }
    return new Response(null, { status: 204 });
  }) as typeof globalThis.fetch;
  return { fetch, calls, registrations: () => registrations };
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function setup(heartbeats: Answer[] = []) {
  const clock = new ManualClock(0);
  const registry = fakeRegistry(heartbeats);
  const registration = new Registration(
    {
      service: 'orders',
      instanceId: 'orders-1',
      host: 'h',
      port: 1,
      lease: { renewalIntervalMs: 1_000, durationMs: 1_500 },
    },
    {
      registryUrl: 'http://registry.test',
      clock,
      fetch: registry.fetch,
      logger: createLogger({ service: 'test', level: 'silent' }),
      random: () => 0.5,
    },
  );
  return { clock, registry, registration };
}

const path = '/v1/services/orders/instances';

describe('Registration', () => {
  it('renews at a third of the lease, before the renewal interval if that is too close to expiry', () => {
    expect(renewalDelay({ renewalIntervalMs: 10_000, durationMs: 30_000 })).toBe(10_000);
    expect(renewalDelay({ renewalIntervalMs: 1_000, durationMs: 1_500 })).toBe(500);
  });

  it('registers, then renews on the renewal timer', async () => {
    const { clock, registry, registration } = setup();
    await registration.start();
    expect(registry.calls).toEqual([`POST ${path}`]);
    clock.advance(499);
    await flush();
    expect(registry.calls).toHaveLength(1);
    clock.advance(1);
    await flush();
    clock.advance(500);
    await flush();
    expect(registry.calls).toEqual([
      `POST ${path}`,
      `PUT ${path}/orders-1/heartbeat`,
      `PUT ${path}/orders-1/heartbeat`,
    ]);
  });

  it('registers again when a renewal answers INSTANCE_NOT_REGISTERED', async () => {
    const { clock, registry, registration } = setup([404]);
    await registration.start();
    clock.advance(500);
    await flush();
    expect(registry.registrations()).toBe(2);
    expect(registry.calls.at(-1)).toBe(`POST ${path}`);
  });

  it('retries a failed renewal sooner than the renewal interval', async () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    const { clock, registry, registration } = setup([refused, 200]);
    await registration.start();
    clock.advance(500);
    await flush();
    // Backoff with jitter 0.5: the first retry waits 50 ms, not another 500.
    clock.advance(50);
    await flush();
    expect(registry.calls.filter((c) => c.startsWith('PUT'))).toHaveLength(2);
  });

  it('deregisters on stop and renews no more', async () => {
    const { clock, registry, registration } = setup();
    await registration.start();
    await registration.stop();
    clock.advance(10_000);
    await flush();
    expect(registry.calls).toEqual([`POST ${path}`, `DELETE ${path}/orders-1`]);
  });

  it('fails at once on a registration the registry refuses', async () => {
    const clock = new ManualClock(0);
    const registration = new Registration(
      { service: 'orders', instanceId: 'x', host: 'h', port: 1 },
      {
        registryUrl: 'http://registry.test',
        clock,
        logger: createLogger({ service: 'test', level: 'silent' }),
        fetch: (async () =>
          Response.json(
            { status: 400, code: 'VALIDATION_FAILED', detail: 'port is bad' },
            { status: 400 },
          )) as unknown as typeof fetch,
      },
    );
    await expect(registration.start()).rejects.toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
  });
});
