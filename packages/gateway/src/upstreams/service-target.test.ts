import { startRegistry } from '@flotilla/registry';
import { eventually } from '@flotilla/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestGateway } from '../fixtures/gateway.js';
import { type Echo, quiet, startEcho, type TestUpstream } from '../fixtures/upstream.js';
import type { RunningGateway, StartGatewayOptions } from '../start.js';

type Registry = Awaited<ReturnType<typeof startRegistry>>;

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function registry(): Promise<Registry> {
  const running = await startRegistry({ port: 0, host: '127.0.0.1', logger: quiet });
  cleanup.push(() => running.close());
  return running;
}

async function instance(
  reg: Registry,
  service: string,
  name: string,
  version?: string,
): Promise<TestUpstream> {
  const upstream = await startEcho(name);
  cleanup.push(() => upstream.close());
  const response = await fetch(`${reg.url}/v1/services/${service}/instances`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      instanceId: name,
      host: '127.0.0.1',
      port: upstream.port,
      ...(version ? { version } : {}),
    }),
  });
  expect(response.status).toBeLessThan(300);
  return upstream;
}

async function gateway(reg: Registry, routes: StartGatewayOptions): Promise<RunningGateway> {
  const gw = await startTestGateway({
    registryUrl: reg.url,
    ...routes,
  });
  cleanup.push(() => gw.close());
  return gw;
}

async function servedBy(url: string, init?: RequestInit): Promise<string> {
  const response = await fetch(url, init);
  expect(response.status).toBe(200);
  return ((await response.json()) as Echo).name;
}

/** A deterministic random source (mulberry32), so the split's counts are the same on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('service targets', () => {
  it('balance over the instances the registry lists', async () => {
    const reg = await registry();
    await instance(reg, 'catalog', 'catalog-1');
    await instance(reg, 'catalog', 'catalog-2');
    const gw = await gateway(reg, {
      routes: [{ id: 'c', match: { path: '/c/*' }, target: { service: 'catalog' } }],
    });
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(await servedBy(`${gw.url}/c/x`));
    expect([...names].sort()).toEqual(['catalog-1', 'catalog-2']);
  });

  it('keep succeeding when an instance dies without deregistering, for GET and POST', async () => {
    const reg = await registry();
    const doomed = await instance(reg, 'catalog', 'catalog-1');
    await instance(reg, 'catalog', 'catalog-2');
    const gw = await gateway(reg, {
      routes: [{ id: 'c', match: { path: '/c/*' }, target: { service: 'catalog' }, retry: { attempts: 1 } }],
    });
    await doomed.close();
    for (let i = 0; i < 10; i++) {
      expect(await servedBy(`${gw.url}/c/x`)).toBe('catalog-2');
      expect(await servedBy(`${gw.url}/c/x`, { method: 'POST', body: `order ${i}` })).toBe('catalog-2');
    }
    const view = (await (await fetch(`${gw.adminUrl}/upstreams`)).json()) as {
      upstreams: { upstream: string; instances: { instanceId: string; ejected: boolean }[] }[];
    };
    expect(view.upstreams[0]?.instances.find((i) => i.instanceId === 'catalog-1')?.ejected).toBe(true);
  });

  it('answer 503 NO_INSTANCE when the service has no instance', async () => {
    const reg = await registry();
    const gw = await gateway(reg, {
      routes: [{ id: 'c', match: { path: '/c/*' }, target: { service: 'ghost' } }],
    });
    const response = await fetch(`${gw.url}/c/x`);
    expect(response.status).toBe(503);
    expect(((await response.json()) as { code: string }).code).toBe('NO_INSTANCE');
  });

  it('split traffic between versions by weight (canary)', async () => {
    const reg = await registry();
    await instance(reg, 'catalog', 'stable', '1');
    await instance(reg, 'catalog', 'canary', '2');
    const gw = await gateway(reg, {
      random: seeded(7),
      routes: [
        {
          id: 'c',
          match: { path: '/c/*' },
          target: {
            split: [
              { service: 'catalog', version: '1', weight: 90 },
              { service: 'catalog', version: '2', weight: 10 },
            ],
          },
        },
      ],
    });
    await eventually(async () => expect(await servedBy(`${gw.url}/c/x`)).toBeDefined());
    const counts: Record<string, number> = { stable: 0, canary: 0 };
    for (let i = 0; i < 400; i++) {
      const name = await servedBy(`${gw.url}/c/x`);
      counts[name] = (counts[name] ?? 0) + 1;
    }
    // 10 % of 400 is 40; a seeded source makes this exact run repeatable, the bounds say what matters.
    expect(counts.canary).toBeGreaterThan(20);
    expect(counts.canary).toBeLessThan(60);
    expect(counts.stable! + counts.canary!).toBe(400);
  });
});
