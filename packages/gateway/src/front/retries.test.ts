import { startRegistry } from '@flotilla/registry';
import { eventually, freePort } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answerIdOf,
  differential,
  echoOf,
  expectFrontCounted,
  frontStats,
  type Outcome,
  outcome,
  retryCounters,
  retryCountsSince,
} from '../fixtures/differential.js';
import {
  arrivalsOf,
  type BehaviourUpstream,
  HOST,
  RawConnection,
  startBehaviourUpstream,
} from '../fixtures/front.js';
import { registerInstance, prefixRoute as route, startGatewayPair } from '../fixtures/gateway.js';
import { quiet } from '../fixtures/upstream.js';
import type { RunningGateway } from '../start.js';

/*
 * Routes with retries on the fast-path front: it runs the attempts itself and asks the route's
 * retry policy after each failure (`Retry.decide`), as the node:http path's pipeline does, so
 * both give the same answers after the same attempts, and share one budget and its counters.
 */

type Registry = Awaited<ReturnType<typeof startRegistry>>;

let registry: Registry;
let up: BehaviourUpstream;
let a: BehaviourUpstream;
let b: BehaviourUpstream;
let fast: RunningGateway;
let node: RunningGateway;

beforeAll(async () => {
  registry = await startRegistry({ port: 0, host: '127.0.0.1', logger: quiet });
  [up, a, b] = await Promise.all([
    startBehaviourUpstream('up'),
    startBehaviourUpstream('a'),
    startBehaviourUpstream('b'),
  ]);
  await registerInstance(registry.url, 'duo', 'a', a.port);
  await registerInstance(registry.url, 'duo', 'b', b.port);
  const closed = `http://127.0.0.1:${await freePort()}`;
  const routes = [
    route('again', { url: up.url }, { retry: { attempts: 2 } }),
    route('pertry', { url: up.url }, { timeout: '5s', retry: { attempts: 1, perTryTimeout: '150ms' } }),
    // The second attempt's per-try timeout would end after the request's deadline: the deadline
    // cuts it, and no third attempt starts.
    route('cut', { url: up.url }, { timeout: '500ms', retry: { attempts: 5, perTryTimeout: '300ms' } }),
    route('refused', { url: closed }, { retry: { attempts: 2 } }),
    route(
      'fallback',
      { url: up.url },
      {
        timeout: '5s',
        retry: { attempts: 1, perTryTimeout: '100ms' },
        fallback: { status: 200, json: { items: [] } },
      },
    ),
    route('duo', { service: 'duo' }, { retry: { attempts: 1 } }),
  ];
  const options = { registryUrl: registry.url, routes };
  ({ fast, node } = await startGatewayPair(options));
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100)]);
  await Promise.all([up?.close(), a?.close(), b?.close()]);
  await registry?.close();
});

const get = (path: string, headers = '') => `GET ${path} HTTP/1.1\r\n${HOST}${headers}\r\n`;

interface Row {
  name: string;
  path: string;
  /** Header lines the client adds. */
  headers?: string;
  status: number;
  /** Calls counted by the retry policy (1 unless no attempt starts). */
  calls?: number;
  /** Arrivals upstream per request (each attempt that reached the upstream). */
  arrivals?: number;
  check?: (outcome: Outcome) => void;
}

const rows: Row[] = [
  { name: 'a reset connection, then an answer', path: '/again/flaky?fail=reset', status: 200, arrivals: 2 },
  { name: 'two resets, then an answer', path: '/again/flaky?fail=reset&n=2', status: 200, arrivals: 3 },
  { name: 'every attempt reset: 502', path: '/again/flaky?fail=reset&n=3', status: 502, arrivals: 3 },
  {
    name: "the upstream's own 500 is relayed, not retried",
    path: '/again/flaky?fail=500',
    status: 500,
    arrivals: 1,
  },
  { name: 'a per-try timeout, then an answer', path: '/pertry/flaky?fail=slow', status: 200, arrivals: 2 },
  {
    name: 'every attempt past its per-try timeout: 504',
    path: '/pertry/flaky?fail=slow&n=2',
    status: 504,
    arrivals: 2,
  },
  {
    name: "the request's deadline cuts the retries: 504",
    path: '/cut/flaky?fail=slow&n=9',
    status: 504,
    arrivals: 2,
  },
  { name: 'every attempt refused: 502', path: '/refused/echo', status: 502 },
  { name: 'a malformed answer, then an answer', path: '/again/flaky?fail=garbage', status: 200, arrivals: 2 },
  {
    name: 'a reset on a route with a per-try timeout, then an answer',
    path: '/pertry/flaky?fail=reset',
    status: 200,
    arrivals: 2,
  },
  {
    name: "a client's deadline passed already: 504, no attempt",
    path: '/again/flaky?fail=reset',
    headers: 'x-flotilla-deadline: 1000\r\n',
    status: 504,
    calls: 0,
  },
  {
    name: "every attempt past its per-try timeout: the route's fallback",
    path: '/fallback/flaky?fail=slow&n=9',
    status: 200,
    arrivals: 2,
    check: (o) => expect(o.body).toEqual({ items: [] }),
  },
];

describe('retries on the fast-path front', () => {
  it.each(rows)('$name', async (row) => {
    const routeId = row.path.split('/')[1]!;
    const before = [retryCounters(fast, routeId), retryCounters(node, routeId)];
    const answers = await differential({ fast, node }, get(row.path, row.headers), {
      status: row.status,
      path: 'fast',
    });
    // The same policy decisions on both paths: calls, retries and give-ups by reason.
    const onFast = retryCountsSince(before[0]!, retryCounters(fast, routeId));
    expect(onFast).toEqual(retryCountsSince(before[1]!, retryCounters(node, routeId)));
    expect(onFast.calls).toBe(row.calls ?? 1);
    if (row.arrivals !== undefined) {
      for (const answer of [answers.fast, answers.node])
        expect(arrivalsOf(answerIdOf(answer)).names).toHaveLength(row.arrivals);
    }
    row.check?.(outcome(answers.fast) as Outcome);
  });

  it("tells the upstream each attempt's own deadline (its per-try timeout's)", async () => {
    for (const gateway of [fast, node]) {
      const started = Date.now();
      const connection = await RawConnection.open(gateway.port);
      connection.send(get('/pertry/flaky?fail=slow'));
      const response = await connection.expectResponse();
      connection.destroy();
      expect(response.statusLine).toContain('200');
      const deadline = Number(echoOf(response).headers['x-flotilla-deadline']);
      // The second attempt started when the first one's deadline had passed; its own ends 150 ms
      // after it started, far before the request's (5 s after it started).
      const arrived = arrivalsOf(answerIdOf(response)).at;
      expect(arrived).toHaveLength(2);
      expect(deadline).toBeGreaterThan(arrived[1]!);
      expect(deadline).toBeLessThan(started + 2_500);
    }
  });

  it("never tells the upstream a deadline past the client's", async () => {
    for (const gateway of [fast, node]) {
      const clientDeadline = Date.now() + 250;
      const connection = await RawConnection.open(gateway.port);
      // The first attempt ends at its 150 ms per-try timeout; the second one at the client's deadline.
      connection.send(get('/pertry/flaky?fail=slow', `x-flotilla-deadline: ${clientDeadline}\r\n`));
      const response = await connection.expectResponse();
      connection.destroy();
      expect(response.statusLine).toContain('200');
      expect(Number(echoOf(response).headers['x-flotilla-deadline'])).toBeLessThanOrEqual(clientDeadline);
    }
  });

  it('retries a reset instance on the other instance of the service', async () => {
    for (const gateway of [fast, node]) {
      const before = frontStats(gateway);
      const connection = await RawConnection.open(gateway.port);
      connection.send(get('/duo/flaky?fail=reset'));
      const response = await connection.expectResponse();
      connection.destroy();
      expect(response.statusLine).toContain('200');
      const names = arrivalsOf(answerIdOf(response)).names;
      expect(names).toHaveLength(2);
      expect(new Set(names)).toEqual(new Set(['a', 'b']));
      expect(echoOf(response).name).toBe(names[1]);
      await expectFrontCounted(gateway, before, 'fast');
    }
  });

  it('stops the attempt in flight when the client leaves, and tries no other', async () => {
    for (const [name, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const id = `leaves-${name}-${Date.now()}`;
      const connection = await RawConnection.open(gateway.port);
      connection.send(get('/pertry/flaky?fail=slow&n=9&ms=1000', `x-request-id: ${id}\r\n`));
      await eventually(() => expect(arrivalsOf(id).names).toHaveLength(1));
      connection.destroy();
      await eventually(() => expect(arrivalsOf(id).closed).toBe(1));
      // Past the per-try timeout a retry would have been sent by now.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(arrivalsOf(id).names, name).toHaveLength(1);
    }
  });
});
