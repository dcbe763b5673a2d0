import { createLogger, type Logger, PROBLEM_CONTENT_TYPE, problem } from '@flotilla/core';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { RegistryMetrics } from '../metrics.js';
import type { Registry } from '../registry.js';
import { registerEurekaApi } from './eureka-api.js';
import { registerNativeApi } from './native-api.js';
import { toProblem } from './problems.js';
import { registerWatch, WatchHub } from './watch-sse.js';

export interface RegistryServerOptions {
  registry: Registry;
  metrics?: RegistryMetrics;
  logger?: Logger;
  /** Largest request body accepted; default 1 MiB (413 beyond). */
  bodyLimit?: number;
  /** Comment line sent on idle watch streams so proxies and clients see they are alive; default 15 s. */
  watchHeartbeatMs?: number;
  /** Serve Eureka's REST API under `/eureka` and `/eureka/v2`; default true. */
  eureka?: boolean;
}

/** Header set on every answer while self-preservation holds, so clients and operators notice. */
export const SELF_PRESERVATION_HEADER = 'flotilla-self-preservation';

/**
 * The registry's HTTP server: native API under `/v1`, watch stream, Eureka REST API, `/health`
 * and `/metrics`. Every error is `application/problem+json`; nothing a client sends can crash it.
 */
export async function createRegistryServer(
  options: RegistryServerOptions,
): Promise<{ app: FastifyInstance; hub: WatchHub }> {
  const { registry, metrics } = options;
  const logger = options.logger ?? createLogger({ service: 'registry' });
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    return503OnClosing: true,
    // Router refusals (bad percent-encoding, over-long ids) as problems too.
    frameworkErrors: (error, request, reply) => {
      const p = toProblem(error, request.url);
      void (reply as FastifyReply).code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
    },
  });

  // Clients (Eureka's among them) send `Content-Type: application/json` on bodiless PUTs and
  // DELETEs: an empty body is "no body", not a JSON error. Prototype-poisoning keys are refused.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) done(null, undefined);
    else json(request, body as string, done);
  });

  app.setErrorHandler((error, request, reply) => {
    const p = toProblem(error, request.url);
    if (p.status >= 500)
      logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    void reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.setNotFoundHandler((request, reply) => {
    const p = problem({
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      detail: `No route ${request.method} ${request.url.split('?')[0]}`,
      instance: request.url,
    });
    void reply.code(404).type(PROBLEM_CONTENT_TYPE).send(p);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (registry.selfPreservation.preserving) void reply.header(SELF_PRESERVATION_HEADER, 'engaged');
    return payload;
  });

  const hub = new WatchHub(registry, logger, options.watchHeartbeatMs ?? 15_000, metrics);
  app.addHook('preClose', async () => hub.closeAll());

  app.get('/health', async () => ({ status: 'UP', revision: registry.revision }));
  app.get('/metrics', async (_request, reply) => {
    if (!metrics)
      return reply
        .code(404)
        .type(PROBLEM_CONTENT_TYPE)
        .send(problem({ status: 404, code: 'NO_METRICS' }));
    return reply.type(metrics.prometheus.contentType).send(await metrics.prometheus.metrics());
  });

  registerNativeApi(app, registry);
  registerWatch(app, hub);
  if (options.eureka ?? true) registerEurekaApi(app, registry);
  await app.ready();
  return { app, hub };
}
