import { eventually } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answered, differential, outcome } from '../fixtures/differential.js';
import {
  arrivalsOf,
  type BehaviourUpstream,
  HOST,
  headerOf,
  RawConnection,
  startBehaviourUpstream,
} from '../fixtures/front.js';
import { prefixRoute as route, startGatewayPair } from '../fixtures/gateway.js';
import type { RunningGateway } from '../start.js';

/*
 * Routes whose upstream has a circuit breaker or a bulkhead, on the fast-path front: each attempt
 * is admitted by the upstream's breaker, then its bulkhead, and hands both back with its outcome
 * (`acquirePermission`, `onSuccess`/`onError`, `onComplete`), as the node:http path's pipeline
 * does, so both paths give the same answers and leave the policies in the same state.
 */

/** One upstream per guarded route: breakers and bulkheads are per upstream origin. */
let breakerUp: BehaviourUpstream;
let fallbackUp: BehaviourUpstream;
let bulkheadUp: BehaviourUpstream;
let retriedUp: BehaviourUpstream;
let pertryUp: BehaviourUpstream;
let fullUp: BehaviourUpstream;
let slowUp: BehaviourUpstream;
let deadlineUp: BehaviourUpstream;
let fast: RunningGateway;
let node: RunningGateway;

const BREAKER = {
  slidingWindowSize: 4,
  minimumNumberOfCalls: 4,
  failureRateThreshold: 50,
  waitDurationInOpenState: '300ms',
  permittedNumberOfCallsInHalfOpenState: 1,
};

/** A breaker that never opens in these tests: it only counts. */
const COUNTING = { slidingWindowSize: 100, minimumNumberOfCalls: 100 };

beforeAll(async () => {
  [breakerUp, fallbackUp, bulkheadUp, retriedUp, pertryUp, fullUp, slowUp, deadlineUp] = await Promise.all([
    startBehaviourUpstream('breaker'),
    startBehaviourUpstream('fallback'),
    startBehaviourUpstream('bulkhead'),
    startBehaviourUpstream('retried'),
    startBehaviourUpstream('pertry'),
    startBehaviourUpstream('full'),
    startBehaviourUpstream('slow'),
    startBehaviourUpstream('deadline'),
  ]);
  const routes = [
    route('breaker', { url: breakerUp.url }, { circuitBreaker: BREAKER }),
    route(
      'fallback',
      { url: fallbackUp.url },
      {
        circuitBreaker: BREAKER,
        fallback: { status: 200, json: { items: [] } },
      },
    ),
    route('bulkhead', { url: bulkheadUp.url }, { concurrency: 1 }),
    route(
      'retried',
      { url: retriedUp.url },
      { circuitBreaker: BREAKER, concurrency: 5, retry: { attempts: 2 } },
    ),
    route(
      'pertry',
      { url: pertryUp.url },
      {
        timeout: '3s',
        retry: { attempts: 0, perTryTimeout: '100ms' },
        circuitBreaker: COUNTING,
      },
    ),
    route('full', { url: fullUp.url }, { circuitBreaker: COUNTING, concurrency: 1 }),
    route('slow', { url: slowUp.url }, { circuitBreaker: { ...COUNTING, slowCallDuration: '100ms' } }),
    route(
      'deadline',
      { url: deadlineUp.url },
      { timeout: '200ms', circuitBreaker: COUNTING, concurrency: 3 },
    ),
  ];
  ({ fast, node } = await startGatewayPair({ routes }));
});

afterAll(async () => {
  await Promise.all([fast?.close(100), node?.close(100)]);
  await Promise.all(
    [breakerUp, fallbackUp, bulkheadUp, retriedUp, pertryUp, fullUp, slowUp, deadlineUp].map((u) =>
      u?.close(),
    ),
  );
});

const get = (path: string) => `GET ${path} HTTP/1.1\r\n${HOST}\r\n`;

function guardsOf(gateway: RunningGateway, url: string) {
  const guards = [...gateway.gateway.upstreams.policies.all()].find((g) => g.key === url);
  expect(guards).toBeDefined();
  return guards!;
}

/** What the breaker counted, without its timing (`remainingOpenMs`). */
function breakerState(gateway: RunningGateway, url: string) {
  const { state, successfulCalls, failedCalls, slowCalls, notPermittedCalls, ignoredCalls } = guardsOf(
    gateway,
    url,
  ).breaker!.snapshot();
  return { state, successfulCalls, failedCalls, slowCalls, notPermittedCalls, ignoredCalls };
}

async function sameBreakers(url: string): Promise<ReturnType<typeof breakerState>> {
  const state = breakerState(fast, url);
  expect(state, 'the breakers of both gateways').toEqual(breakerState(node, url));
  return state;
}

describe('circuit breakers on the fast-path front', () => {
  it('opens on failed answers, refuses with a 503 while open, and closes after a good trial call', async () => {
    // Two good answers and two 500s (relayed): a failure rate of 50 % over four calls opens it.
    for (const [path, status] of [
      ['/breaker/echo', 200],
      ['/breaker/500', 500],
      ['/breaker/echo', 200],
      ['/breaker/500', 500],
    ] as const) {
      await differential({ fast, node }, get(path), { status, path: 'fast' });
    }
    expect(await sameBreakers(breakerUp.url)).toMatchObject({
      state: 'OPEN',
      successfulCalls: 2,
      failedCalls: 2,
    });
    const connectionsBefore = breakerUp.connections;
    const refused = await differential({ fast, node }, get('/breaker/echo'), { status: 503, path: 'fast' });
    expect(outcome(refused.fast)).toMatchObject({ body: { code: 'CIRCUIT_OPEN' } });
    expect(breakerUp.connections, 'nothing sent upstream while open').toBe(connectionsBefore);
    expect(await sameBreakers(breakerUp.url)).toMatchObject({ notPermittedCalls: 1 });
    // After the wait, one trial call: its success closes the breaker.
    await new Promise((resolve) => setTimeout(resolve, 350));
    await differential({ fast, node }, get('/breaker/echo'), { status: 200, path: 'fast' });
    expect(await sameBreakers(breakerUp.url)).toMatchObject({ state: 'CLOSED', successfulCalls: 3 });
  });

  it("answers with the route's fallback while open", async () => {
    for (let i = 0; i < 4; i++)
      await differential({ fast, node }, get('/fallback/500'), { status: 500, path: 'fast' });
    expect(await sameBreakers(fallbackUp.url)).toMatchObject({ state: 'OPEN' });
    const answer = await differential({ fast, node }, get('/fallback/echo'), { status: 200, path: 'fast' });
    expect(outcome(answer.fast)).toMatchObject({ body: { items: [] } });
  });

  it('counts each attempt of a retried request, and a client that leaves as neither', async () => {
    const before = [breakerState(fast, retriedUp.url), breakerState(node, retriedUp.url)];
    // Reset twice, then an answer: three attempts, two failures and a success for the breaker.
    const answers = await differential({ fast, node }, get('/retried/flaky?fail=reset&n=2'), {
      status: 200,
      path: 'fast',
    });
    for (const answer of [answers.fast, answers.node])
      expect(arrivalsOf(headerOf(answered(answer), 'x-request-id')!).names).toHaveLength(3);
    // A client that leaves while its attempt waits: ignored by the breaker, its slot freed.
    for (const gateway of [fast, node]) {
      const id = `leaves-guarded-${gateway === fast ? 'fast' : 'node'}-${Date.now()}`;
      const connection = await RawConnection.open(gateway.port);
      connection.send(`GET /retried/flaky?fail=slow&ms=5000 HTTP/1.1\r\n${HOST}x-request-id: ${id}\r\n\r\n`);
      await eventually(() => expect(arrivalsOf(id).names).toHaveLength(1));
      expect(guardsOf(gateway, retriedUp.url).bulkhead!.activeCalls).toBe(1);
      connection.destroy();
      await eventually(() => expect(guardsOf(gateway, retriedUp.url).bulkhead!.activeCalls).toBe(0));
    }
    const after = await sameBreakers(retriedUp.url);
    expect(after.failedCalls - before[0]!.failedCalls).toBe(2);
    expect(after.successfulCalls - before[0]!.successfulCalls).toBe(1);
    expect(after.ignoredCalls - before[0]!.ignoredCalls).toBe(1);
    expect(before[0]).toEqual(before[1]);
  });
});

describe('breaker outcomes of single attempts, as node:http records them', () => {
  it('a per-try timeout bounds the only attempt of a route without retries (attempts: 0)', async () => {
    const answers = await differential({ fast, node }, get('/pertry/late?ms=400'), {
      status: 504,
      path: 'fast',
    });
    expect(outcome(answers.fast)).toMatchObject({ body: { code: 'GATEWAY_TIMEOUT' } });
    expect(await sameBreakers(pertryUp.url)).toMatchObject({ failedCalls: 1 });
  });

  it('a slow answer counts as slow', async () => {
    await differential({ fast, node }, get('/slow/late?ms=250'), { status: 200, path: 'fast' });
    expect(await sameBreakers(slowUp.url)).toMatchObject({ slowCalls: 1, successfulCalls: 1 });
  });

  it("the route's deadline is a failure, and the slot is freed", async () => {
    const answers = await differential({ fast, node }, get('/deadline/late?ms=600'), {
      status: 504,
      path: 'fast',
    });
    expect(outcome(answers.fast)).toMatchObject({ body: { code: 'GATEWAY_TIMEOUT' } });
    expect(await sameBreakers(deadlineUp.url)).toMatchObject({ failedCalls: 1 });
    for (const gateway of [fast, node])
      expect(guardsOf(gateway, deadlineUp.url).bulkhead!.activeCalls).toBe(0);
  });

  it("a full bulkhead's refusal hands the breaker's permit back (ignored)", async () => {
    for (const [name, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const id = `full-${name}`;
      const hanging = fullUp.hanging(id);
      const holder = await RawConnection.open(gateway.port);
      holder.send(get(`/full/hang?id=${id}`));
      await hanging.arrived;
      const refused = await fetch(`${gateway.url}/full/echo`);
      expect(refused.status, name).toBe(503);
      await refused.arrayBuffer();
      holder.destroy();
      await eventually(() => expect(guardsOf(gateway, fullUp.url).bulkhead!.activeCalls).toBe(0));
    }
    // The refused call and the client that left: both ignored.
    expect(await sameBreakers(fullUp.url)).toMatchObject({ ignoredCalls: 2, failedCalls: 0 });
  });
});

describe('bulkheads on the fast-path front', () => {
  it('refuses a request beyond the limit with a 503 and frees the slot when an answer comes', async () => {
    for (const [name, gateway] of [
      ['fast', fast],
      ['node', node],
    ] as const) {
      const bulkhead = guardsOf(gateway, bulkheadUp.url).bulkhead!;
      const id = `bulkhead-${name}`;
      const hanging = bulkheadUp.hanging(id);
      const holder = await RawConnection.open(gateway.port);
      holder.send(get(`/bulkhead/hang?id=${id}`));
      await hanging.arrived;
      expect(bulkhead.activeCalls, name).toBe(1);
      const refused = await fetch(`${gateway.url}/bulkhead/echo`);
      expect(refused.status, name).toBe(503);
      expect(((await refused.json()) as { code: string }).code).toBe('BULKHEAD_FULL');
      // The client holding the slot leaves: the upstream request stops and the slot is free.
      holder.destroy();
      await hanging.closed;
      await eventually(() => expect(bulkhead.activeCalls, name).toBe(0));
      const served = await fetch(`${gateway.url}/bulkhead/echo`);
      expect(served.status, name).toBe(200);
      await served.arrayBuffer();
      expect(bulkhead.activeCalls, name).toBe(0);
      expect(bulkhead.snapshot()).toMatchObject({ admittedCalls: 2, rejectedCalls: 1 });
    }
  });
});
