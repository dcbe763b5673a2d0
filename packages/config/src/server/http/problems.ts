import { errorToProblem, isFlotillaError, PROBLEM_CONTENT_TYPE, type Problem, problem } from '@flotilla/core';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { ServerContext } from '../context.js';

/** Sends a problem+json response. */
export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(p));
}

/**
 * Every error becomes problem+json: Flotilla errors keep status, code and field list; fastify's
 * own 4xx (bad JSON, wrong media type, body too large) keep their status and code; anything
 * else is an opaque 500 that is logged. Also counts requests by route and status.
 */
export function installProblemHandlers(app: FastifyInstance, ctx: ServerContext): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isFlotillaError(error)) return sendProblem(reply, errorToProblem(error, request.url));
    const status = error.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return sendProblem(
        reply,
        problem({ status, code: error.code ?? 'BAD_REQUEST', detail: error.message, instance: request.url }),
      );
    }
    ctx.logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    return sendProblem(reply, errorToProblem(error, request.url));
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem({ status: 404, code: 'NOT_FOUND', detail: `no route ${request.method} ${request.url}` }),
    ),
  );

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    ctx.metrics.requests.inc({ route, status: String(reply.statusCode) });
    ctx.logger.debug({ method: request.method, url: request.url, status: reply.statusCode }, 'request');
  });
}
