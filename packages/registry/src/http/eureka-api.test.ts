import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger, until } from '../fixtures/helpers.js';
import { type RunningRegistry, startRegistry } from '../start.js';

/** The parts of eureka-js-client (a real Eureka client, CommonJS, untyped) this test uses. */
interface EurekaClient {
  start(callback: (error?: Error) => void): void;
  stop(callback: (error?: Error) => void): void;
  on(event: 'registered' | 'heartbeat' | 'registryUpdated' | 'deregistered', listener: () => void): void;
  getInstancesByAppId(app: string): { instanceId: string; status: string; port: { $: number } }[];
  getInstancesByVipAddress(vip: string): { instanceId: string; hostName: string }[];
}
const require = createRequire(import.meta.url);
const { Eureka } = require('eureka-js-client') as { Eureka: new (config: unknown) => EurekaClient };

let registry: RunningRegistry;

beforeAll(async () => {
  registry = await startRegistry({ port: 0, host: '127.0.0.1', logger: captureLogger().logger });
});
afterAll(() => registry.close());

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const dataCenterInfo = { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' };

function client(app: string, instanceId: string, port: number): EurekaClient {
  return new Eureka({
    logger: quiet,
    shouldUseDelta: true,
    instance: {
      app,
      instanceId,
      hostName: 'localhost',
      ipAddr: '127.0.0.1',
      port: { $: port, '@enabled': true },
      vipAddress: `${app}.vip`,
      dataCenterInfo,
      metadata: { zone: 'zone-a' },
    },
    eureka: {
      host: '127.0.0.1',
      port: registry.port,
      servicePath: '/eureka/apps/',
      heartbeatInterval: 50,
      registryFetchInterval: 50,
      maxRetries: 0,
    },
  });
}

const promised = (fn: (cb: (error?: Error) => void) => void) =>
  new Promise<void>((resolve, reject) => fn((error) => (error ? reject(error) : resolve())));

async function eureka(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { accept: 'application/json', ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const response = await fetch(`${registry.url}/eureka${path}`, init);
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function nativeRegister(service: string, id: string) {
  await fetch(`${registry.url}/v1/services/${service}/instances`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instanceId: id, host: '10.1.1.1', port: 9000 }),
  });
}

describe('Eureka compatibility', () => {
  it('lets eureka-js-client register, renew, fetch (full and delta) and cancel', async () => {
    const jq = client('jqservice', 'jq-1', 8080);
    let heartbeats = 0;
    jq.on('heartbeat', () => heartbeats++);
    await promised((cb) => jq.start(cb));
    try {
      // Registered through Eureka, visible natively.
      const native = (await (
        await fetch(`${registry.url}/v1/services/jqservice/instances/jq-1`)
      ).json()) as Record<string, unknown>;
      expect(native).toMatchObject({
        service: 'jqservice',
        host: 'localhost',
        port: 8080,
        zone: 'zone-a',
        status: 'UP',
      });
      expect(native.lease).toEqual({ renewalIntervalMs: 30_000, durationMs: 90_000 });
      expect(jq.getInstancesByAppId('jqservice').map((i) => i.instanceId)).toEqual(['jq-1']);

      await until(() => heartbeats >= 2, 5_000, 'heartbeats');

      // Registered natively, seen by the Eureka client through a delta fetch.
      await nativeRegister('orders', 'orders-1');
      await until(() => jq.getInstancesByVipAddress('orders').length === 1, 5_000, 'the delta with orders-1');
      expect(jq.getInstancesByAppId('ORDERS')[0]).toMatchObject({
        instanceId: 'orders-1',
        status: 'UP',
        port: { $: 9000 },
      });
      await fetch(`${registry.url}/v1/services/orders/instances/orders-1`, { method: 'DELETE' });
      await until(
        () => jq.getInstancesByVipAddress('orders').length === 0,
        5_000,
        'the delta deleting orders-1',
      );

      // Evicted or lost behind its back: the 404 on renew makes it register again.
      await fetch(`${registry.url}/v1/services/jqservice/instances/jq-1`, { method: 'DELETE' });
      await until(
        async () => (await fetch(`${registry.url}/v1/services/jqservice/instances/jq-1`)).status === 200,
        5_000,
        're-registration',
      );
    } finally {
      await promised((cb) => jq.stop(cb));
    }
    expect((await fetch(`${registry.url}/v1/services/jqservice/instances/jq-1`)).status).toBe(404);
  });

  it("registers a Java client's body and answers in Eureka's JSON shapes", async () => {
    const body = {
      instance: {
        instanceId: 'host-1:billing:8081',
        hostName: 'host-1',
        app: 'BILLING_API',
        ipAddr: '10.0.0.9',
        status: 'UP',
        overriddenStatus: 'UNKNOWN',
        port: { $: 8081, '@enabled': 'true' },
        securePort: { $: 443, '@enabled': 'false' },
        countryId: 1,
        dataCenterInfo,
        leaseInfo: { renewalIntervalInSecs: 5, durationInSecs: 15 },
        metadata: { '@class': 'java.util.Collections$EmptyMap' },
        homePageUrl: 'http://host-1:8081/',
        statusPageUrl: 'http://host-1:8081/actuator/info',
        healthCheckUrl: 'http://host-1:8081/actuator/health',
        vipAddress: 'billing-api',
        secureVipAddress: 'billing-api',
        isCoordinatingDiscoveryServer: 'false',
        lastUpdatedTimestamp: '1700000000000',
        lastDirtyTimestamp: '1700000000000',
      },
    };
    const registered = await eureka('POST', '/apps/BILLING_API', body);
    expect(registered.json).toBeUndefined();
    expect(registered.status).toBe(204);

    const one = await eureka('GET', '/apps/BILLING_API/host-1:billing:8081');
    expect(one.json.instance).toMatchObject({
      instanceId: 'host-1:billing:8081',
      app: 'BILLING_API',
      hostName: 'host-1',
      ipAddr: '10.0.0.9',
      status: 'UP',
      overriddenStatus: 'UNKNOWN',
      port: { $: 8081, '@enabled': 'true' },
      securePort: { '@enabled': 'false' },
      dataCenterInfo,
      leaseInfo: { renewalIntervalInSecs: 5, durationInSecs: 15, evictionTimestamp: 0 },
      metadata: { '@class': 'java.util.Collections$EmptyMap' },
      vipAddress: 'billing-api',
      lastDirtyTimestamp: '1700000000000',
    });
    expect(typeof one.json.instance.leaseInfo.registrationTimestamp).toBe('number');

    const all = await eureka('GET', '/apps');
    expect(all.json.applications).toMatchObject({
      versions__delta: expect.any(String),
      apps__hashcode: expect.stringMatching(/^(\w+_\d+_)+$/),
    });
    const billing = all.json.applications.application.find((a: { name: string }) => a.name === 'BILLING_API');
    expect(billing.instance).toHaveLength(1);
    expect((await eureka('GET', '/apps/billing_api')).json.application.name).toBe('BILLING_API');
    expect((await eureka('GET', '/instances/host-1:billing:8081')).json.instance.app).toBe('BILLING_API');
    expect(
      (await eureka('GET', '/vips/billing-api')).json.applications.application[0].instance[0].instanceId,
    ).toBe('host-1:billing:8081');
    expect((await eureka('GET', '/v2/apps/BILLING_API/host-1:billing:8081')).status).toBe(200);
    // Visible natively under the mapped service name.
    expect(
      (await fetch(`${registry.url}/v1/services/billing-api/instances/host-1:billing:8081`)).status,
    ).toBe(200);
  });

  it('renews, overrides status, updates metadata and cancels like Eureka', async () => {
    await eureka('POST', '/apps/STOCK', {
      instance: { hostName: 'stock-1', app: 'STOCK', port: 7000, dataCenterInfo },
    });
    // Without an instanceId, the instance is known by its host name.
    expect((await eureka('PUT', '/apps/STOCK/stock-1')).status).toBe(200);
    expect((await eureka('PUT', '/apps/STOCK/nobody')).status).toBe(404);
    // The client says its info changed since it registered: 404 makes it register again.
    expect(
      (await eureka('PUT', `/apps/STOCK/stock-1?status=UP&lastDirtyTimestamp=${Date.now() + 60_000}`)).status,
    ).toBe(404);

    expect((await eureka('PUT', '/apps/STOCK/stock-1/status?value=OUT_OF_SERVICE')).status).toBe(200);
    expect((await eureka('GET', '/apps/STOCK/stock-1')).json.instance).toMatchObject({
      status: 'OUT_OF_SERVICE',
      overriddenStatus: 'OUT_OF_SERVICE',
    });
    expect((await eureka('PUT', '/apps/STOCK/stock-1/status?value=SLEEPING')).json).toMatchObject({
      status: 400,
      errors: [{ field: '/query/value' }],
    });
    expect((await eureka('DELETE', '/apps/STOCK/stock-1/status?value=UP')).status).toBe(200);
    expect((await eureka('GET', '/apps/STOCK/stock-1')).json.instance).toMatchObject({
      status: 'UP',
      overriddenStatus: 'UNKNOWN',
    });

    expect((await eureka('PUT', '/apps/STOCK/stock-1/metadata?shard=3&tier=gold')).status).toBe(200);
    expect((await eureka('GET', '/apps/STOCK/stock-1')).json.instance.metadata).toEqual({
      shard: '3',
      tier: 'gold',
    });

    expect((await eureka('DELETE', '/apps/STOCK/stock-1')).status).toBe(200);
    expect((await eureka('DELETE', '/apps/STOCK/stock-1')).status).toBe(404);
    expect((await eureka('GET', '/apps/STOCK')).status).toBe(404);
  });

  it('serves a delta of the last changes with their actions and the reconcile hash', async () => {
    await nativeRegister('delta-a', 'a-1');
    await nativeRegister('delta-b', 'b-1');
    await fetch(`${registry.url}/v1/services/delta-b/instances/b-1/status`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'DOWN' }),
    });
    await nativeRegister('delta-c', 'c-1');
    await fetch(`${registry.url}/v1/services/delta-c/instances/c-1`, { method: 'DELETE' });
    const delta = (await eureka('GET', '/apps/delta')).json.applications;
    const action = (app: string) =>
      delta.application.find((a: { name: string }) => a.name === app)?.instance[0];
    expect(action('DELTA-A')).toMatchObject({ actionType: 'ADDED', status: 'UP' });
    expect(action('DELTA-B')).toMatchObject({ actionType: 'MODIFIED', status: 'DOWN' });
    expect(action('DELTA-C')).toMatchObject({ actionType: 'DELETED' });
    const all = (await eureka('GET', '/apps')).json.applications;
    expect(delta.apps__hashcode).toBe(all.apps__hashcode);
    expect(delta.apps__hashcode).toMatch(/^DOWN_1_UP_\d+_$/);
  });

  it('refuses bad registrations and XML, naming what is wrong', async () => {
    const noHost = await eureka('POST', '/apps/X', { instance: { app: 'X', port: 1 } });
    expect(noHost.json).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(noHost.json.errors[0].field).toBe('/body/instance/hostName');
    const badApp = await eureka('POST', '/apps/X', {
      instance: { app: 'not valid!', hostName: 'h', port: 1 },
    });
    expect(badApp.json.errors[0].field).toBe('/body/instance/app');
    const noPort = await eureka('POST', '/apps/X', { instance: { app: 'x', hostName: 'h' } });
    expect(noPort.json.errors[0].field).toBe('/body/instance/port');
    expect((await eureka('POST', '/apps/X', 'not an object')).status).toBe(400);
    const xml = await eureka('GET', '/apps', undefined, { accept: 'application/xml' });
    expect(xml.json).toMatchObject({ status: 406, code: 'NOT_ACCEPTABLE' });
  });
});
