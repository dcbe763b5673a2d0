import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../fixtures/gateway.js';
import { startUpstream, type TestUpstream } from '../fixtures/upstream.js';
import { RoutesError } from '../routes/errors.js';
import { parseRoutes } from '../routes/load.js';
import type { RouteDefinition } from '../routes/schema.js';
import type { RunningGateway } from '../start.js';

/** A JSON service: `answers` maps a path (without query) to a body, `slow` paths never answer in time. */
function jsonService(answers: Record<string, unknown>, seen: IncomingMessage[] = []) {
  return startUpstream((req: IncomingMessage, res: ServerResponse) => {
    seen.push(req);
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (path === '/slow') return void setTimeout(() => res.end('{}'), 2_000);
    if (path === '/echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    }
    if (!(path in answers)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end('{"error":"not found"}');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answers[path]));
  });
}

let users: TestUpstream;
let billing: TestUpstream;
let gw: RunningGateway;
/** The same routes through node:http's path only. */
let gwNode: RunningGateway;
const seenByUsers: IncomingMessage[] = [];
const seenByBilling: IncomingMessage[] = [];

const routes = (): RouteDefinition[] => [
  {
    id: 'home',
    match: { path: '/home/:userId' },
    aggregate: {
      legs: {
        profile: { url: users.url, path: '/users/:userId', timeout: '1s' },
        plan: { url: billing.url, path: '/plans/basic', timeout: '1s' },
      },
    },
  },
  {
    id: 'home-slow',
    match: { path: '/home-slow/:userId' },
    aggregate: {
      legs: {
        profile: { url: users.url, path: '/users/:userId' },
        trending: { url: billing.url, path: '/slow', timeout: '100ms', fallback: [] },
      },
    },
  },
  {
    id: 'home-broken',
    match: { path: '/home-broken' },
    aggregate: {
      legs: {
        profile: { url: users.url, path: '/users/nobody' },
        plan: { url: billing.url, path: '/plans/basic' },
      },
    },
  },
  {
    id: 'account',
    match: { path: '/account/:userId' },
    chain: {
      steps: [
        { name: 'user', url: users.url, path: '/users/:userId' },
        {
          name: 'plan',
          url: billing.url,
          path: '/plans/{{steps.user.body.planId}}',
          query: { for: '{{params.userId}}' },
        },
      ],
    },
  },
  {
    id: 'feed',
    match: { path: '/feed' },
    branch: [
      {
        when: { headers: { 'x-client': 'mobile' } },
        chain: { steps: [{ name: 'feed', url: billing.url, path: '/feeds/mobile' }] },
      },
      { aggregate: { legs: { feed: { url: billing.url, path: '/feeds/web' } } } },
    ],
  },
  {
    id: 'headers',
    match: { path: '/headers' },
    aggregate: { legs: { seen: { url: users.url, path: '/echo' } } },
  },
  // Leg a is refused (its failure comes after b's path failed to render).
  {
    id: 'unresolved',
    match: { path: '/unresolved' },
    aggregate: {
      legs: {
        a: { url: 'http://127.0.0.1:9', path: '/x', fallback: null },
        b: { url: users.url, path: '/users/7', query: { need: '{{query.need}}' } },
      },
    },
  },
  {
    id: 'proto',
    match: { path: '/proto' },
    branch: [
      {
        when: { headers: { constructor: '*' } },
        chain: { steps: [{ name: 'feed', url: billing.url, path: '/feeds/mobile' }] },
      },
      { aggregate: { legs: { feed: { url: billing.url, path: '/feeds/web' } } } },
    ],
  },
];

beforeAll(async () => {
  users = await jsonService({ '/users/7': { id: 7, name: 'Ada', planId: 'pro plus' } }, seenByUsers);
  billing = await jsonService(
    {
      '/plans/basic': { tier: 'basic' },
      '/plans/pro plus': { tier: 'pro' },
      '/feeds/mobile': ['m1'],
      '/feeds/web': ['w1', 'w2'],
    },
    seenByBilling,
  );
  [gw, gwNode] = await Promise.all([
    startTestGateway({ routes: routes() }),
    startTestGateway({ routes: routes(), fastPath: false }),
  ]);
});

afterAll(async () => {
  await Promise.all([gw?.close(), gwNode?.close()]);
  await Promise.all([users?.close(), billing?.close()]);
});

describe('aggregate routes', () => {
  it('calls every leg and merges their JSON under the leg names', async () => {
    const response = await fetch(`${gw.url}/home/7`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-flotilla-partial')).toBeNull();
    expect(await response.json()).toEqual({
      profile: { id: 7, name: 'Ada', planId: 'pro plus' },
      plan: { tier: 'basic' },
    });
  });

  it('answers a slow leg with its fallback and marks the answer partial, still 200', async () => {
    const response = await fetch(`${gw.url}/home-slow/7`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-flotilla-partial')).toBe('trending');
    expect(await response.json()).toEqual({
      profile: { id: 7, name: 'Ada', planId: 'pro plus' },
      trending: [],
    });
  });

  it('answers 502 naming the leg when a leg without fallback fails', async () => {
    const response = await fetch(`${gw.url}/home-broken`);
    expect(response.status).toBe(502);
    const body = (await response.json()) as { detail: string };
    expect(body).toMatchObject({ code: 'LEG_FAILED', leg: 'profile' });
    expect(body.detail).toContain('upstream answered 404');
  });

  it('carries the request id, a continued trace and the deadline to each leg', async () => {
    const trace = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const response = await fetch(`${gw.url}/headers`, {
      headers: { 'x-request-id': 'req-42', traceparent: trace, 'content-type': 'text/plain' },
    });
    const { seen } = (await response.json()) as { seen: { headers: Record<string, string> } };
    expect(seen.headers['x-request-id']).toBe('req-42');
    expect(seen.headers.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    expect(seen.headers.traceparent).not.toBe(trace);
    expect(Number(seen.headers['x-flotilla-deadline'])).toBeGreaterThan(Date.now());
    expect(seen.headers['content-type']).toBeUndefined();
  });
});

describe('chain routes', () => {
  it('feeds a value from one step into the next step path, URL-encoded', async () => {
    const response = await fetch(`${gw.url}/account/7`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      user: { id: 7, name: 'Ada', planId: 'pro plus' },
      plan: { tier: 'pro' },
    });
    const planCall = seenByBilling.at(-1)!;
    expect(planCall.url).toBe('/plans/pro%20plus?for=7');
  });
});

describe('branch routes', () => {
  it('chooses the case whose header condition holds, else the default', async () => {
    const mobile = await fetch(`${gw.url}/feed`, { headers: { 'x-client': 'mobile' } });
    expect(await mobile.json()).toEqual({ feed: ['m1'] });
    const web = await fetch(`${gw.url}/feed`);
    expect(await web.json()).toEqual({ feed: ['w1', 'w2'] });
  });
});

describe('faults a review found', () => {
  it('fails the leg whose path cannot be rendered (502 naming it), and the process lives on', async () => {
    for (const gateway of [gw, gwNode]) {
      const response = await fetch(`${gateway.url}/unresolved`);
      expect(response.status).toBe(502);
      const body = (await response.json()) as { detail: string };
      expect(body).toMatchObject({ code: 'LEG_FAILED', leg: 'b' });
      expect(body.detail).toContain('query.need');
      // Leg a's refusal, after the answer, must not end the process (it did: an unawaited leg).
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await fetch(`${gateway.url}/home/7`)).status).toBe(200);
    }
  });

  it('does not see a header named like an Object member that the request did not send', async () => {
    for (const gateway of [gw, gwNode]) {
      const response = await fetch(`${gateway.url}/proto`);
      expect(await response.json()).toEqual({ feed: ['w1', 'w2'] });
    }
  });
});

describe('composite route definitions', () => {
  const refused = (yaml: string[]) => {
    try {
      parseRoutes(yaml.join('\n'), 'routes.yaml');
    } catch (error) {
      if (error instanceof RoutesError) return error.message;
      throw error;
    }
    throw new Error('expected the routes to be refused');
  };

  it('refuses a step that refers to a later step, naming the line', () => {
    expect(
      refused([
        'routes:',
        '  - id: c',
        '    match: { path: /c }',
        '    chain:',
        '      steps:',
        '        - { name: a, url: "http://x", path: "/a/{{steps.b.body.id}}" }',
        '        - { name: b, url: "http://x", path: /b }',
      ]),
    ).toBe(
      'routes.yaml:6:45: /routes/0/chain/steps/0/path: refers to step "b", which is not an earlier step of this chain',
    );
  });

  it('refuses a template that is more than a dotted path', () => {
    expect(
      refused([
        'routes:',
        '  - id: c',
        '    match: { path: /c }',
        '    aggregate: { legs: { a: { url: "http://x", path: "/a/{{ process.env }}" } } }',
      ]),
    ).toContain('should start with one of params, query, headers, claims, steps');
  });
});
