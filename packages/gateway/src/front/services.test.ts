import { startRegistry } from '@flotilla/registry';
import { eventually, freePort } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answered, differential, echoOf, frontStats } from '../fixtures/differential.js';
import { type BehaviourUpstream, HOST, RawConnection, startBehaviourUpstream } from '../fixtures/front.js';
import { registerInstance, prefixRoute as route, startGatewayPair } from '../fixtures/gateway.js';
import { quiet } from '../fixtures/upstream.js';
import type { RouteDefinition } from '../routes/schema.js';
import type { RunningGateway } from '../start.js';

/*
 * Service targets on the fast-path front: the instance is picked, retried when refused and its
 * outcome recorded as on the node:http path (`Upstreams.pick`, `triesElsewhere`, `settle`), so
 * both give the same answers and leave the balancer in the same state.
 */

type Registry = Awaited<ReturnType<typeof startRegistry>>;

let registry: Registry;
let one: BehaviourUpstream;
let a: BehaviourUpstream;
let b: BehaviourUpstream;
let fast: RunningGateway;
let node: RunningGateway;

const register = (service: string, instanceId: string, port: number, host?: string) =>
  registerInstance(registry.url, service, instanceId, port, host);

const routes = (): RouteDefinition[] => [
  route('one', { service: 'one' }),
  route('short', { service: 'one' }, { timeout: '300ms' }),
  route('pair', { service: 'pair', strategy: 'least-outstanding' }),
  route('refusing', { service: 'refusing' }),
  route('dead', { service: 'dead' }),
  route('ghost', { service: 'ghost' }),
  route('five', { service: 'five' }),
  route('late', { service: 'late' }, { timeout: '50ms' }),
  route('badhost', { service: 'badhost', strategy: 'least-outstanding' }),
  route('retried', { service: 'one' }, { retry: { attempts: 1 } }),
];

beforeAll(async () => {
  registry = await startRegistry({ port: 0, host: '127.0.0.1', logger: quiet });
  [one, a, b] = await Promise.all([
    startBehaviourUpstream('one'),
    startBehaviourUpstream('a'),
    startBehaviourUpstream('b'),
  ]);
  await register('one', 'one', one.port);
  await register('pair', 'a', a.port);
  await register('pair', 'b', b.port);
  // Nothing listens on these ports: connections are refused.
  await register('refusing', 'closed', await freePort());
  await register('refusing', 'live', one.port);
  await register('dead', 'closed', await freePort());
  await register('five', 'x', one.port);
  await register('late', 'x', one.port);
  // The registry takes any host; this one makes no URL, so no pool can be made for it.
  await register('badhost', 'bad', 8080, 'bad host');
  await register('badhost', 'good', one.port);
  const options = { registryUrl: registry.url, routes: routes() };
  ({ fast, node } = await startGatewayPair(options));
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100)]);
  await Promise.all([one?.close(), a?.close(), b?.close()]);
  await registry?.close();
});

const get = (path: string) => `GET ${path} HTTP/1.1\r\n${HOST}\r\n`;

interface Row {
  name: string;
  path: string;
  status: number;
}

const rows: Row[] = [
  { name: 'an instance of the service answers', path: '/one/echo', status: 200 },
  { name: "the instance's own 500 is relayed", path: '/one/500', status: 500 },
  { name: 'no answer by the route timeout: 504', path: '/short/slow', status: 504 },
  { name: 'the only instance refuses: 502', path: '/dead/echo', status: 502 },
  { name: 'a service without instances: 503', path: '/ghost/echo', status: 503 },
  { name: 'a refused instance: the next one answers', path: '/refusing/echo', status: 200 },
  { name: 'a route with a retry policy', path: '/retried/echo', status: 200 },
];

describe('service targets on the fast-path front', () => {
  it.each(rows)('$name', async (row) => {
    await differential({ fast, node }, get(row.path), { status: row.status, path: 'fast' });
  });

  it('sends the request to the instance with its path rewritten and the gateway headers', async () => {
    const { fast: answer } = await differential({ fast, node }, get('/one/echo?x=1'), {
      status: 200,
      path: 'fast',
    });
    const echo = echoOf(answered(answer));
    expect(echo.url).toBe('/echo?x=1');
    expect(echo.headers['x-flotilla-deadline']).toMatch(/^\d{13}$/);
    expect(echo.headers['x-request-id']).toBeDefined();
  });

  it('ejects an instance that keeps refusing, as node:http does', async () => {
    for (const gateway of [fast, node]) {
      const before = frontStats(gateway);
      for (let i = 0; i < 12; i++) {
        const response = await fetch(`${gateway.url}/refusing/echo`);
        expect(response.status).toBe(200);
        await response.arrayBuffer();
      }
      const detector = gateway.gateway.upstreams.balancer('round-robin').detectorFor('refusing');
      expect(detector?.isEjected('closed'), gateway === fast ? 'fast' : 'node').toBe(true);
      expect(detector?.isEjected('live')).toBe(false);
      if (before) expect(frontStats(gateway)!.served - before.served).toBe(12);
    }
  });

  it.each([
    ['five', '/five/500', 500],
    ['late', '/late/late?ms=400', 504],
  ])(
    'ejects an instance after five failed answers (%s), as node:http does',
    async (service, path, status) => {
      for (const gateway of [fast, node]) {
        const before = frontStats(gateway);
        for (let i = 0; i < 5; i++) {
          const response = await fetch(`${gateway.url}${path}`);
          expect(response.status).toBe(status);
          await response.arrayBuffer();
        }
        if (before) expect(frontStats(gateway)!.served - before.served).toBe(5);
        const detector = gateway.gateway.upstreams.balancer('round-robin').detectorFor(service);
        expect(detector?.isEjected('x'), gateway === fast ? 'fast' : 'node').toBe(true);
      }
    },
  );

  it('counts an instance whose host makes no URL as failed, and ejects it', async () => {
    for (const gateway of [fast, node]) {
      const balancer = gateway.gateway.upstreams.balancer('least-outstanding');
      const strategy = balancer.strategyFor('badhost') as unknown as { outstanding(id: string): number };
      const statuses = [];
      for (let i = 0; i < 12; i++) {
        const response = await fetch(`${gateway.url}/badhost/echo`);
        statuses.push(response.status);
        await response.arrayBuffer();
      }
      expect(statuses).toContain(500);
      expect(statuses.slice(-2), statuses.join()).toEqual([200, 200]);
      expect(strategy.outstanding('bad')).toBe(0);
      expect(balancer.detectorFor('badhost')?.isEjected('bad')).toBe(true);
    }
  });

  it('leaves no call counted in flight after answers and clients that left', async () => {
    for (const gateway of [fast, node]) {
      const strategy = gateway.gateway.upstreams.balancer('least-outstanding').strategyFor('pair');
      const outstanding = () =>
        ['a', 'b'].map((id) => (strategy as unknown as { outstanding(id: string): number }).outstanding(id));
      // Ten clients leave while their requests wait for the slow answer: five calls to each
      // instance end aborted, which is no failure of theirs (five failures would eject one).
      const leaving = await Promise.all(Array.from({ length: 10 }, () => RawConnection.open(gateway.port)));
      for (const connection of leaving) connection.send(get('/pair/slow'));
      await eventually(() => expect(outstanding()).toEqual([5, 5]));
      for (const connection of leaving) connection.destroy();
      await eventually(() => expect(outstanding()).toEqual([0, 0]));
      const detector = gateway.gateway.upstreams.balancer('least-outstanding').detectorFor('pair');
      expect([detector?.isEjected('a'), detector?.isEjected('b')]).toEqual([false, false]);
      // Answers spread over both instances: with one call in flight each time, they alternate.
      const served: string[] = [];
      for (let i = 0; i < 4; i++) {
        const echo = (await (await fetch(`${gateway.url}/pair/echo`)).json()) as { name: string };
        served.push(echo.name);
      }
      expect(new Set(served)).toEqual(new Set(['a', 'b']));
      expect(outstanding()).toEqual([0, 0]);
    }
  });
});
