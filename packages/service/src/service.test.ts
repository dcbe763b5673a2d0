import { encodePrincipal, isFlotillaError } from '@flotilla/core';
import type { RunningRegistry } from '@flotilla/registry';
import { freePort } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogContract, frontContract } from './fixtures/contracts.js';
import { createService } from './service.js';
import { startTestRegistry, startTestService, testClient } from './testing/index.js';

// biome-ignore lint/suspicious/noExplicitAny: test answers are read loosely.
const json = (response: Response): Promise<any> => response.json();

let registry: RunningRegistry;
beforeAll(async () => {
  registry = await startTestRegistry();
});
afterAll(async () => {
  await registry?.close();
});

function catalog(name = 'Metropolis') {
  return createService({
    name: 'catalog',
    contract: catalogContract,
    routes: {
      getTitle: ({ params, query }) => ({ id: params.id, name, locale: query.locale ?? 'en' }),
      addTitle: ({ body }) => ({ id: body.year }),
      whoami: (_input, ctx) => ({
        requestId: ctx.requestId,
        traceId: ctx.traceId,
        deadline: ctx.deadline ?? null,
        sub: ctx.principal?.sub ?? null,
      }),
      // Answers outside its own contract: a string where an integer is promised.
      broken: () => ({ count: 'many' }) as unknown as { count: number },
    },
  });
}

describe('a service and its typed client', () => {
  it('answers a typed call made through the registry', async () => {
    const service = await startTestService(catalog(), { registryUrl: registry.url });
    const client = await testClient(catalogContract, { registryUrl: registry.url });
    try {
      const title = await client.getTitle({ params: { id: 7 }, query: { locale: 'fr' } });
      expect(title).toEqual({ id: 7, name: 'Metropolis', locale: 'fr' });
      expect(await client.addTitle({ body: { name: 'Nosferatu', year: 1922 } })).toEqual({ id: 1922 });
    } finally {
      await client.close();
      await service.stop();
    }
  });

  it('answers a bad request with a 400 problem naming the field', async () => {
    const service = await startTestService(catalog(), { registryUrl: false });
    try {
      const response = await fetch(`${service.url}/titles`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'x', year: 1700 }),
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/application\/problem\+json/);
      const problem = await json(response);
      expect(problem).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      expect(problem.errors.map((e: { field: string }) => e.field)).toEqual(['/body/year']);

      const badParam = await json(await fetch(`${service.url}/titles/abc`));
      expect(badParam.errors[0].field).toBe('/params/id');
      const badJson = await fetch(`${service.url}/titles`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":',
      });
      expect(badJson.status).toBe(400);
      expect((await json(badJson)).errors[0].field).toBe('/body');
      const unknown = await fetch(`${service.url}/nope`);
      expect(unknown.status).toBe(404);
      expect((await json(unknown)).code).toBe('ROUTE_NOT_FOUND');
    } finally {
      await service.stop();
    }
  });

  it('refuses a bad call on the caller side, before anything is sent', async () => {
    const service = await startTestService(catalog(), { registryUrl: registry.url });
    const client = await testClient(catalogContract, { registryUrl: registry.url });
    try {
      const error = await client.addTitle({ body: { name: '', year: 1999 } }).catch((e: unknown) => e);
      expect(isFlotillaError(error) && error.code).toBe('VALIDATION_FAILED');
      expect((error as { data: { errors: { field: string }[] } }).data.errors[0]?.field).toBe('/body/name');
    } finally {
      await client.close();
      await service.stop();
    }
  });

  it('reports a service it cannot reach as a 503 naming the target', async () => {
    const port = await freePort();
    await fetch(`${registry.url}/v1/services/catalog/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instanceId: 'catalog-gone', host: '127.0.0.1', port }),
    });
    const client = await testClient(catalogContract, { registryUrl: registry.url });
    try {
      const error = await client.getTitle({ params: { id: 1 } }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503 });
      expect((error as Error).message).toMatch(/^catalog\.getTitle could not be reached/);
    } finally {
      await client.close();
      await fetch(`${registry.url}/v1/services/catalog/instances/catalog-gone`, { method: 'DELETE' });
    }
  });

  it('turns an answer outside the contract into a 500 in development', async () => {
    const service = await startTestService(catalog(), { registryUrl: false });
    try {
      const response = await fetch(`${service.url}/broken`);
      expect(response.status).toBe(500);
      expect((await json(response)).code).toBe('CONTRACT_VIOLATION');
    } finally {
      await service.stop();
    }
  });

  it('serves its OpenAPI document, health and RED metrics', async () => {
    const service = await startTestService(catalog(), { registryUrl: false });
    try {
      const doc = await json(await fetch(`${service.url}/openapi.json`));
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.paths['/titles/{id}'].get.operationId).toBe('getTitle');
      expect(doc.paths['/titles'].post.requestBody.content['application/json'].schema.required).toEqual([
        'name',
        'year',
      ]);
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${service.url}/health/ready`);
      expect(ready.status).toBe(200);
      await fetch(`${service.url}/titles/3`);
      await fetch(`${service.url}/titles/0`);
      const metrics = await (await fetch(`${service.url}/metrics`)).text();
      expect(metrics).toMatch(
        /flotilla_service_requests_total\{service="catalog",route="\/titles\/:id",method="GET",status="200"\} 1/,
      );
      expect(metrics).toMatch(/status="400"\} 1/);
      expect(metrics).toContain('flotilla_service_request_duration_seconds_bucket');
      expect(metrics).toContain('process_cpu_user_seconds_total');
    } finally {
      await service.stop();
    }
  });
});

describe('context propagation', () => {
  it('carries request id, trace, deadline and principal onto calls to other services', async () => {
    const back = await startTestService(catalog(), { registryUrl: registry.url });
    const front = await startTestService(
      createService({
        name: 'front',
        contract: frontContract,
        clients: { catalog: catalogContract },
        dependencies: { services: ['catalog'] },
        routes: {
          show: async ({ params }, ctx) => {
            const title = await ctx.clients.catalog.getTitle({ params: { id: params.id } });
            return { title: title.name, servedBy: 'catalog' };
          },
          trace: async (_input, ctx) => ({
            front: { requestId: ctx.requestId, traceId: ctx.traceId },
            catalog: await ctx.clients.catalog.whoami(),
          }),
        },
      }),
      { registryUrl: registry.url },
    );
    try {
      const deadline = Date.now() + 5_000;
      const traceId = 'a'.repeat(32);
      const response = await fetch(`${front.url}/trace`, {
        headers: {
          'x-request-id': 'req-42',
          traceparent: `00-${traceId}-${'b'.repeat(16)}-01`,
          'x-flotilla-deadline': String(deadline),
          'x-flotilla-principal': encodePrincipal({ sub: 'alice', scope: 'play:read' }),
        },
      });
      expect(response.headers.get('x-request-id')).toBe('req-42');
      const body = await json(response);
      expect(body.front).toEqual({ requestId: 'req-42', traceId });
      expect(body.catalog).toMatchObject({ requestId: 'req-42', traceId, sub: 'alice' });
      expect(body.catalog.deadline).toBeLessThanOrEqual(deadline);

      expect(await json(await fetch(`${front.url}/show/5`))).toEqual({
        title: 'Metropolis',
        servedBy: 'catalog',
      });
      const metrics = await (await fetch(`${front.url}/metrics`)).text();
      expect(metrics).toMatch(
        /flotilla_service_client_requests_total\{service="front",target="catalog",endpoint="getTitle",status="200"\} 1/,
      );
    } finally {
      await front.stop();
      await back.stop();
    }
  });
});
