import type { IncomingHttpHeaders } from 'node:http';
import {
  compileValidator,
  decodePrincipal,
  Headers,
  newId,
  ValidationError,
  type Validator,
} from '@flotilla/core';
import { parseDeadline, withDeadline } from '@flotilla/resilience';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newSpanId, newTraceId, parseTraceparent, type RequestContext, runWithRequest } from '../context.js';
import { type AnyEndpoint, type Contract, inputSchema, type OutputOf, type ReceivedOf } from '../contract.js';

/** What a handler receives besides its input. */
export type HandlerInput<E extends AnyEndpoint> = ReceivedOf<E> & { headers: IncomingHttpHeaders };

/** Implementation of one endpoint. */
export type Handler<E extends AnyEndpoint, Ctx> = (
  input: HandlerInput<E>,
  ctx: Ctx,
) => Promise<OutputOf<E>> | OutputOf<E>;

/** Implementations of every endpoint of a contract. */
export type Handlers<C extends Contract, Ctx> = {
  [K in keyof C['endpoints']]: Handler<C['endpoints'][K], Ctx>;
};

export interface RouteHooks {
  /** Prototype of the handler contexts (`contextPrototype`). */
  prototype: object;
  /** Check answers against the contract before sending them. */
  validateResponses: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Per endpoint: one validator over `{ params, query, body }` and one over the answer. */
interface Prepared {
  name: string;
  endpoint: AnyEndpoint;
  input: Validator<TSchema> | undefined;
  inputSchema: TSchema | undefined;
  response: Validator<TSchema>;
}

function prepare(name: string, endpoint: AnyEndpoint): Prepared {
  const schema = inputSchema(endpoint);
  return {
    name,
    endpoint,
    inputSchema: schema,
    input: schema ? compileValidator(schema) : undefined,
    response: compileValidator(endpoint.response as TSchema, '/response'),
  };
}

/**
 * The prototype of every request context of a service: the lazily created request logger and
 * the service's own accessors (`extras`, e.g. `config`, `db`). Contexts are created with
 * `Object.create` and plain fields, so each request allocates one small object of a stable
 * shape and a logger only when the handler logs.
 */
export function contextPrototype(log: RequestContext['log'], extras: object = {}): object {
  const proto = {
    get log() {
      const self = this as unknown as {
        requestLog?: RequestContext['log'];
        requestId: string;
        traceId: string;
      };
      self.requestLog ??= log.child({ requestId: self.requestId, traceId: self.traceId });
      return self.requestLog;
    },
  };
  Object.defineProperties(proto, Object.getOwnPropertyDescriptors(extras));
  return proto;
}

/** Builds the request context from the incoming headers, on `proto` (see `contextPrototype`). */
export function requestContext(headers: IncomingHttpHeaders, proto: object): RequestContext {
  const given = headers[Headers.requestId];
  const parent = parseTraceparent(header(headers, Headers.traceparent));
  const principalHeader = header(headers, Headers.principal);
  const ctx = Object.create(proto) as Record<string, unknown>;
  ctx.requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : newId();
  ctx.traceId = parent?.traceId ?? newTraceId();
  ctx.spanId = newSpanId();
  ctx.traceFlags = parent?.flags ?? '01';
  ctx.tracestate = parent ? header(headers, Headers.tracestate) : undefined;
  const deadline = headers[Headers.deadline];
  ctx.deadline = deadline === undefined ? undefined : parseDeadline(deadline);
  ctx.principal = principalHeader === undefined ? undefined : decodePrincipal(principalHeader);
  ctx.principalHeader = principalHeader;
  ctx.requestLog = undefined;
  return ctx as unknown as RequestContext;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Registers the contract's endpoints. Params and query arrive as strings and are converted to
 * the schema's types first (`?limit=5` → 5); then the whole input is checked at once, so a 400
 * names every bad field (`/params/id`, `/query/limit`, `/body/name`).
 */
export function registerContract<C extends Contract, Ctx>(
  app: FastifyInstance,
  contract: C,
  handlers: Handlers<C, Ctx>,
  hooks: RouteHooks,
): void {
  for (const [name, endpoint] of Object.entries(contract.endpoints) as [string, AnyEndpoint][]) {
    const handler = (handlers as Record<string, Handler<AnyEndpoint, Ctx> | undefined>)[name];
    if (typeof handler !== 'function') {
      throw new ValidationError(`createService: no handler for endpoint "${name}" of ${contract.service}`, {
        code: 'INVALID_CONFIGURATION',
      });
    }
    const p = prepare(name, endpoint);
    app.route({
      method: endpoint.method,
      url: endpoint.path,
      config: { endpoint: name },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const input = readInput(p, request);
        const ctx = requestContext(request.headers, hooks.prototype);
        reply.header(Headers.requestId, ctx.requestId);
        const run = () =>
          runWithRequest(ctx, () => handler({ ...input, headers: request.headers }, ctx as Ctx));
        const result = await (ctx.deadline === undefined ? run() : withDeadline(ctx.deadline, run));
        if (hooks.validateResponses && !p.response.check(result)) {
          const errors = p.response.errors(result);
          ctx.log.error({ endpoint: name, errors }, 'handler answered outside its contract');
          throw new ValidationError(`${contract.service}.${name} answered outside its contract`, {
            code: 'CONTRACT_VIOLATION',
            status: 500,
            data: { errors },
          });
        }
        reply.code(endpoint.status ?? 200);
        if (result === undefined) return reply.send();
        return reply.type('application/json').send(JSON.stringify(result));
      },
    });
  }
}

function readInput(
  p: Prepared,
  request: FastifyRequest,
): { params?: unknown; query?: unknown; body?: unknown } {
  const { endpoint } = p;
  const raw: Record<string, unknown> = {};
  if (endpoint.params) raw.params = request.params ?? {};
  if (endpoint.query) raw.query = request.query ?? {};
  if (endpoint.body) raw.body = request.body;
  if (!p.input || !p.inputSchema) return {};
  if (p.input.check(raw)) return raw;
  // Strings from the path and query string become numbers and booleans where the schema says so.
  const converted = Value.Convert(p.inputSchema, raw) as Record<string, unknown>;
  if (endpoint.body) converted.body = request.body;
  return p.input.assert(converted) as Record<string, unknown>;
}
