import { errorToProblem, isFlotillaError, PROBLEM_CONTENT_TYPE, problem } from '@flotilla/core';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { RequestContext } from '../context.js';
import type { Contract } from '../contract.js';
import { openApiDocument } from './openapi.js';
import { contextPrototype, type Handlers, registerContract } from './routes.js';

interface AppService {
  readonly name: string;
  readonly log: RequestContext['log'];
  readonly metrics: {
    registry: { contentType: string; metrics(): Promise<string> };
    request(route: string, method: string, status: number, seconds: number): void;
  };
}

export interface AppOptions<Ctx> {
  service: AppService;
  definition: {
    contract?: Contract;
    routes?: Handlers<Contract, Ctx>;
    version?: string;
    setup?: (app: FastifyInstance) => void;
  };
  bodyLimit: number;
  validateResponses: boolean;
  /** Service accessors every handler context carries (config, db, clients…). */
  contextExtras: object;
  readiness(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** True once the listener is closing. */
  closing(): boolean;
}

const started = Symbol('started');

/**
 * The service's HTTP side on fastify: the contract's routes, `/health/live`, `/health/ready`,
 * `/metrics`, `/openapi.json`, and problem+json for every error fastify or a handler raises.
 */
export async function buildApp<Ctx>(options: AppOptions<Ctx>): Promise<FastifyInstance> {
  const { service, definition } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit,
    // Idle keep-alive connections close with the server; busy ones finish their request.
    forceCloseConnections: 'idle',
    // Graceful shutdown drains before closing, so a request that still arrives is served.
    return503OnClosing: false,
  });

  app.addHook('onRequest', async (request) => {
    (request as unknown as Record<symbol, number>)[started] = performance.now();
  });
  app.addHook('onResponse', async (request, reply) => {
    const start = (request as unknown as Record<symbol, number>)[started];
    const route = request.routeOptions.url ?? 'unmatched';
    if (route.startsWith('/health') || route === '/metrics') return;
    service.metrics.request(
      route,
      request.method,
      reply.statusCode,
      (performance.now() - (start ?? 0)) / 1_000,
    );
  });

  app.addHook('onSend', async (_request, reply) => {
    if (options.closing()) reply.header('connection', 'close');
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const p = toProblem(error, request.url);
    if (p.status >= 500) service.log.error({ err: error, url: request.url }, 'request failed');
    void reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .type(PROBLEM_CONTENT_TYPE)
      .send(
        problem({
          status: 404,
          code: 'ROUTE_NOT_FOUND',
          detail: `${service.name} has no route ${request.method} ${request.url.split('?')[0]}`,
        }),
      );
  });

  app.get('/health/live', async () => ({ status: 'UP' }));
  app.get('/health/ready', async (_request, reply) => {
    const { ready, checks } = await options.readiness();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'UP' : 'DOWN', checks });
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.type(service.metrics.registry.contentType).send(await service.metrics.registry.metrics());
  });
  if (definition.contract) {
    const document = JSON.stringify(openApiDocument(definition.contract, definition.version));
    app.get('/openapi.json', async (_request, reply) => reply.type('application/json').send(document));
    registerContract(app, definition.contract, definition.routes ?? {}, {
      prototype: contextPrototype(service.log, options.contextExtras),
      validateResponses: options.validateResponses,
    });
  }
  definition.setup?.(app);
  await app.ready();
  return app;
}

/** Fastify's own errors (bad JSON, body too large, wrong content type) as problems naming the body. */
function toProblem(error: FastifyError, instance: string) {
  if (isFlotillaError(error)) return errorToProblem(error, instance);
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const code =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'BODY_TOO_LARGE' : (error.code ?? 'BAD_REQUEST');
    const field = error.code?.startsWith('FST_ERR_CTP') || error instanceof SyntaxError ? '/body' : undefined;
    return problem({
      status,
      code: code.replace(/^FST_ERR_/, ''),
      detail: error.message,
      instance,
      errors: field ? [{ field, message: error.message }] : undefined,
    });
  }
  return errorToProblem(error, instance);
}
