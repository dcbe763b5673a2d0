import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../fixtures/helpers.js';
import { type RunningRegistry, startRegistry } from '../start.js';
import { SELF_PRESERVATION_HEADER } from './server.js';

let registry: RunningRegistry;

beforeAll(async () => {
  registry = await startRegistry({ port: 0, host: '127.0.0.1', logger: captureLogger().logger });
});
afterAll(() => registry.close());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${registry.url}${path}`, init);
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return {
    status: response.status,
    type,
    headers: response.headers,
    json: text && type.includes('json') ? JSON.parse(text) : text,
  };
}

const orders = (id: string, extra: Record<string, unknown> = {}) => ({
  instanceId: id,
  host: '10.0.0.1',
  port: 8080,
  ...extra,
});

describe('native API', () => {
  it('registers, lists, filters, reads and deregisters instances', async () => {
    const created = await call(
      'POST',
      '/v1/services/orders/instances',
      orders('o-1', { zone: 'eu', version: '1.0.0', metadata: { team: 'a' } }),
    );
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/v1/services/orders/instances/o-1');
    expect(created.json).toMatchObject({
      service: 'orders',
      instanceId: 'o-1',
      status: 'UP',
      lease: { renewalIntervalMs: 10_000, durationMs: 30_000 },
    });
    expect(
      (await call('POST', '/v1/services/orders/instances', orders('o-2', { zone: 'us', status: 'STARTING' })))
        .status,
    ).toBe(201);
    expect(
      (await call('POST', '/v1/services/orders/instances', orders('o-1', { zone: 'eu', version: '1.0.1' })))
        .status,
    ).toBe(200);

    const services = await call('GET', '/v1/services');
    expect(services.json).toContainEqual({ name: 'orders', instances: 2, statuses: { UP: 1, STARTING: 1 } });

    const up = await call('GET', '/v1/services/orders/instances?status=UP');
    expect(up.json.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual(['o-1']);
    expect(up.json.revision).toBeGreaterThan(0);
    const filtered = await call('GET', '/v1/services/orders/instances?zone=eu,us&version=1.0.1');
    expect(filtered.json.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual(['o-1']);
    expect((await call('GET', '/v1/services/orders/instances?metadata.team=a')).json.instances).toHaveLength(
      0,
    );
    expect((await call('GET', '/v1/services/nobody/instances')).json).toMatchObject({ instances: [] });

    expect((await call('GET', '/v1/services/orders/instances/o-2')).json).toMatchObject({
      reportedStatus: 'STARTING',
    });
    expect((await call('DELETE', '/v1/services/orders/instances/o-2')).status).toBe(204);
    const missing = await call('GET', '/v1/services/orders/instances/o-2');
    expect(missing).toMatchObject({ status: 404, json: { code: 'INSTANCE_NOT_FOUND' } });
    expect((await call('DELETE', '/v1/services/orders/instances/o-2')).status).toBe(404);
  });

  it('renews leases, and tells a client renewing an unknown instance to register again', async () => {
    await call(
      'POST',
      '/v1/services/carts/instances',
      orders('c-1', { lease: { renewalIntervalMs: 1_000, durationMs: 3_000 } }),
    );
    const renewed = await call('PUT', '/v1/services/carts/instances/c-1/heartbeat');
    expect(renewed.status).toBe(200);
    expect(renewed.json.expiresAt - renewed.json.lastRenewedAt).toBe(3_000);
    // Clients that always send a JSON content type send it on bodiless PUTs too.
    expect(
      (
        await call('PUT', '/v1/services/carts/instances/c-1/heartbeat', '', {
          'content-type': 'application/json',
        })
      ).status,
    ).toBe(200);

    const unknown = await call('PUT', '/v1/services/carts/instances/ghost/heartbeat');
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
    expect(unknown.json).toMatchObject({ code: 'INSTANCE_NOT_REGISTERED', status: 404 });
    expect(unknown.json.detail).toContain('register again');
  });

  it('changes status, override and metadata', async () => {
    await call(
      'POST',
      '/v1/services/pay/instances',
      orders('p-1', { status: 'STARTING', metadata: { a: '1' } }),
    );
    expect((await call('PUT', '/v1/services/pay/instances/p-1/status', { status: 'UP' })).json.status).toBe(
      'UP',
    );
    const drained = await call('PUT', '/v1/services/pay/instances/p-1/status-override', {
      status: 'OUT_OF_SERVICE',
    });
    expect(drained.json).toMatchObject({
      status: 'OUT_OF_SERVICE',
      reportedStatus: 'UP',
      statusOverride: 'OUT_OF_SERVICE',
    });
    expect((await call('DELETE', '/v1/services/pay/instances/p-1/status-override')).json.status).toBe('UP');
    const patched = await call('PATCH', '/v1/services/pay/instances/p-1/metadata', { a: null, b: '2' });
    expect(patched.json.metadata).toEqual({ b: '2' });
  });

  it('answers bad input with 400 problem+json naming the field', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/v1/services/orders/instances', { instanceId: 'x', host: 'h' }, '/body/port'],
      ['POST', '/v1/services/orders/instances', orders('x', { port: 70_000 }), '/body/port'],
      ['POST', '/v1/services/orders/instances', orders('x', { status: 'up' }), '/body/status'],
      ['POST', '/v1/services/orders/instances', orders('x', { metadata: { k: 1 } }), '/body/metadata/k'],
      ['POST', '/v1/services/orders/instances', orders('a b'), '/body/instanceId'],
      ['POST', '/v1/services/orders/instances', orders('x', { service: 'carts' }), '/body/service'],
      [
        'POST',
        '/v1/services/orders/instances',
        orders('x', { lease: { renewalIntervalMs: 5_000, durationMs: 5_000 } }),
        '/body/lease/durationMs',
      ],
      ['POST', '/v1/services/orders/instances', orders('x', { healthCheck: {} }), '/body/healthCheckUrl'],
      ['POST', '/v1/services/Bad_Name/instances', orders('x'), '/path/service'],
      ['POST', '/v1/services/orders/instances', [1, 2], '/body'],
      ['GET', '/v1/services/orders/instances?status=SLEEPY', undefined, '/query/status'],
      ['PUT', '/v1/services/orders/instances/o-1/status-override', { status: 'GONE' }, '/body/status'],
      ['PATCH', '/v1/services/orders/instances/o-1/metadata', { k: 5 }, '/body/k'],
      ['GET', '/v1/watch?since=abc', undefined, '/query/since'],
      ['GET', '/v1/watch?service=NOPE!', undefined, '/query/service'],
    ];
    for (const [method, path, body, field] of cases) {
      const answer = await call(method, path, body);
      expect({ path, body, status: answer.status, type: answer.type }).toMatchObject({
        status: 400,
        type: expect.stringContaining('application/problem+json'),
      });
      expect(
        answer.json.errors.map((e: { field: string }) => e.field),
        `${method} ${path} ${JSON.stringify(body)}`,
      ).toContain(field);
    }
  });

  it('survives garbled, hostile and huge bodies', async () => {
    const post = (body: string | Uint8Array, type = 'application/json') =>
      call('POST', '/v1/services/orders/instances', body, { 'content-type': type });
    expect((await post('{"instanceId": "x", "host":')).json).toMatchObject({
      status: 400,
      code: 'INVALID_JSON',
    });
    expect((await post('{"__proto__": {"admin": true}, "instanceId": "x"}')).status).toBe(400);
    expect((await post('{"constructor": {"prototype": {"x": 1}}}')).status).toBe(400);
    expect((await post(new Uint8Array([0xff, 0xfe, 0x00, 0x7b, 0x22]))).status).toBe(400);
    expect((await post('[]'.repeat(10) + '['.repeat(5_000))).status).toBe(400);
    expect(
      (await post(JSON.stringify({ ...orders('x'), metadata: { big: 'x'.repeat(2 * 1024 * 1024) } }))).json,
    ).toMatchObject({ status: 413, code: 'BODY_TOO_LARGE' });
    expect((await post('instanceId=x', 'application/x-www-form-urlencoded')).json).toMatchObject({
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    });
    expect((await post('')).json.errors[0].field).toBe('/body');
    expect((await call('GET', `/v1/services/orders/instances/${'x'.repeat(400)}`)).json).toMatchObject({
      status: 414,
      code: 'URI_TOO_LONG',
    });
    expect((await call('GET', '/v1/services/orders/instances/%E0%A4%A')).json).toMatchObject({
      status: 400,
      code: 'BAD_URL',
    });
    expect((await call('GET', '/nowhere')).json).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
    expect((await call('GET', '/health')).json.status).toBe('UP');
  });

  it('flags self-preservation in every answer and in the registry status', async () => {
    const sp = registry.registry.maintenance.selfPreservation;
    sp.evaluate(Date.now(), 0, 1_000, 100);
    try {
      const status = await call('GET', '/v1/registry');
      expect(status.headers.get(SELF_PRESERVATION_HEADER)).toBe('engaged');
      expect(status.json).toMatchObject({
        store: 'memory',
        selfPreservation: { engaged: true, preserving: true },
        capabilities: { leaseExpiry: 'registry' },
      });
      const metrics = await call('GET', '/metrics');
      expect(metrics.json).toContain('flotilla_registry_self_preservation_engaged 1');
    } finally {
      sp.evaluate(Date.now(), 0, 0, 0);
    }
    expect((await call('GET', '/v1/services')).headers.get(SELF_PRESERVATION_HEADER)).toBeNull();
  });

  it('exposes instances, renewals and registrations as Prometheus metrics', async () => {
    await call('POST', '/v1/services/metered/instances', orders('m-1'));
    await call('PUT', '/v1/services/metered/instances/m-1/heartbeat');
    const text = (await call('GET', '/metrics')).json as string;
    expect(text).toContain('flotilla_registry_instances{service="metered",status="UP"} 1');
    expect(text).toMatch(/flotilla_registry_renewals_total \d+/);
    expect(text).toContain('flotilla_registry_registrations_total{service="metered"} 1');
    expect(text).toContain('flotilla_registry_watchers 0');
    expect(text).toContain('process_cpu_seconds_total');
  });
});
