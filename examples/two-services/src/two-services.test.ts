import { fileURLToPath } from 'node:url';
import { createLogger } from '@flotilla/core';
import { DiscoveryClient } from '@flotilla/discovery';
import { eventually, freePort, type ProcessGroup, type ProcessHandle, test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';

// Real processes: the built `flotilla registry`, two pricing instances and a storefront, run
// from `dist/` (`npm test` builds first; alone: `npx tsc -b` first).
const bin = fileURLToPath(new URL('../../../packages/cli/bin/flotilla.mjs', import.meta.url));
const dist = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
const WAIT_MS = 30_000;

interface System {
  registryUrl: string;
  storefrontUrl: string;
  pricing: { handle: ProcessHandle; instanceId: string }[];
}

const serviceEnv = (registryUrl: string, port: number) => ({
  ...process.env,
  FLOTILLA_REGISTRY_URL: registryUrl,
  PORT: String(port),
  FLOTILLA_LOG_LEVEL: 'info',
  // Short lease so the registry evicts a killed instance within seconds.
  FLOTILLA_LEASE_RENEWAL_MS: '500',
  FLOTILLA_LEASE_DURATION_MS: '2000',
  FLOTILLA_DRAIN_DELAY_MS: '300',
});

async function startPricing(processes: ProcessGroup, registryUrl: string, n: number) {
  const handle = processes.spawn({
    name: `pricing-${n}`,
    command: process.execPath,
    args: [dist('pricing.js')],
    env: serviceEnv(registryUrl, await freePort()),
  });
  const line = await handle.waitForLine(/pricing is UP/, WAIT_MS);
  return { handle, instanceId: (JSON.parse(line) as { instance: string }).instance };
}

async function startSystem(processes: ProcessGroup): Promise<System> {
  const registryPort = await freePort();
  const registryUrl = `http://127.0.0.1:${registryPort}`;
  const registry = processes.spawn({
    name: 'registry',
    command: process.execPath,
    args: [bin, 'registry', '--port', String(registryPort), '--host', '127.0.0.1'],
  });
  await registry.waitForLine(/registry listening/, WAIT_MS);
  const pricing = await Promise.all([1, 2].map((n) => startPricing(processes, registryUrl, n)));
  const storefrontPort = await freePort();
  const storefront = processes.spawn({
    name: 'storefront',
    command: process.execPath,
    args: [dist('storefront.js')],
    env: serviceEnv(registryUrl, storefrontPort),
  });
  await storefront.waitForLine(/storefront is UP/, WAIT_MS);
  return { registryUrl, storefrontUrl: `http://127.0.0.1:${storefrontPort}`, pricing };
}

/** Steady load: `concurrency` loops of offer requests until `stop()`; every answer is tallied. */
function load(url: string, concurrency = 6) {
  let running = true;
  const failures: string[] = [];
  const servedBy = new Map<string, number>();
  let ok = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const response = await fetch(`${url}/offers/tt0133093?country=GB`);
        const body = (await response.json()) as { quotedBy?: string; code?: string };
        if (response.status !== 200) failures.push(`${response.status} ${body.code}`);
        else {
          ok++;
          servedBy.set(body.quotedBy as string, (servedBy.get(body.quotedBy as string) ?? 0) + 1);
        }
      } catch (error) {
        failures.push(String(error));
      }
    }
  });
  return {
    failures,
    servedBy,
    get ok() {
      return ok;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

const registered = async (registryUrl: string): Promise<string[]> => {
  const response = await fetch(`${registryUrl}/v1/services/pricing/instances`);
  const body = (await response.json()) as { instances: { instanceId: string }[] };
  return body.instances.map((i) => i.instanceId).sort();
};

describe('two services, one calling the other through its contract', () => {
  test('a typed call works and a bad request gets a 400 naming the field', async ({ processes }) => {
    const system = await startSystem(processes);
    const offer = await fetch(`${system.storefrontUrl}/offers/tt0133093?country=GB`);
    expect(offer.status).toBe(200);
    const body = (await offer.json()) as { price: string; quotedBy: string };
    expect(body.price).toMatch(/^\d+\.\d{2} GBP$/);
    expect(system.pricing.map((p) => p.instanceId)).toContain(body.quotedBy);

    const bad = await fetch(`${system.storefrontUrl}/offers/tt0133093`);
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe('/query/country');

    // The storefront passes any country string along; pricing's contract refuses a bad one, and
    // the storefront answers with pricing's problem: the field is named across the hop.
    const remote = await fetch(`${system.storefrontUrl}/offers/tt0133093?country=gb`);
    expect(remote.status).toBe(400);
    const problem = (await remote.json()) as { code: string; detail: string };
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.detail).toMatch(/\/query\/country/);
  });

  test('kill -9 of one of two instances under steady load: every call succeeds and the registry evicts it', async ({
    processes,
  }) => {
    const system = await startSystem(processes);
    const [victim, survivor] = system.pricing as [System['pricing'][0], System['pricing'][0]];
    const traffic = load(system.storefrontUrl);
    await eventually(() => expect(traffic.servedBy.size).toBe(2), { timeoutMs: WAIT_MS });
    await victim.handle.kill9();
    const okAtKill = traffic.ok;
    await eventually(
      async () => expect(await registered(system.registryUrl)).toEqual([survivor.instanceId]),
      {
        timeoutMs: WAIT_MS,
      },
    );
    // Keep the load on a little longer after the eviction.
    await eventually(() => expect(traffic.ok).toBeGreaterThan(okAtKill + 200), { timeoutMs: WAIT_MS });
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(traffic.servedBy.get(survivor.instanceId)).toBeGreaterThan(0);
  });

  test('SIGTERM under load: no call fails, and the instance leaves the registry before it exits', async ({
    processes,
  }) => {
    const system = await startSystem(processes);
    const [leaving, staying] = system.pricing as [System['pricing'][0], System['pricing'][0]];
    const watcher = new DiscoveryClient({
      registryUrl: system.registryUrl,
      services: ['pricing'],
      logger: createLogger({ service: 'test', level: 'silent' }),
    });
    await watcher.start();
    let removedAt: number | undefined;
    watcher.on('change', (change) => {
      if (change.removed.some((i) => i.instanceId === leaving.instanceId)) removedAt ??= Date.now();
    });
    const traffic = load(system.storefrontUrl);
    try {
      await eventually(() => expect(traffic.servedBy.size).toBe(2), { timeoutMs: WAIT_MS });
      const exit = await leaving.handle.stop({ signal: 'SIGTERM' });
      const exitedAt = Date.now();
      expect(exit.code).toBe(0);
      expect(removedAt).toBeDefined();
      expect(removedAt as number).toBeLessThanOrEqual(exitedAt);
      const okAtExit = traffic.ok;
      await eventually(() => expect(traffic.ok).toBeGreaterThan(okAtExit + 100), { timeoutMs: WAIT_MS });
      await traffic.stop();
      expect(traffic.failures).toEqual([]);
      expect(await registered(system.registryUrl)).toEqual([staying.instanceId]);
    } finally {
      await traffic.stop();
      await watcher.close();
    }
  });
});
