import { compileValidator, ValidationError } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { UnsupportedOperationError } from '../../errors.js';
import { requireOperator } from '../auth.js';
import { read, type ServerContext } from '../context.js';
import { nativeBody } from '../views.js';
import type { WatchHub } from '../watch-hub.js';

export interface ConfigParams {
  service: string;
  env: string;
}

export interface VersionQuery {
  version?: string;
}

const EncryptBody = compileValidator(
  Type.Object(
    {
      value: Type.String({ maxLength: 65_536 }),
      keyId: Type.Optional(Type.String({ minLength: 1 })),
    },
    { additionalProperties: false },
  ),
  '/body',
);

/** The native API: resolved config, encryption for operators, health and metrics. */
export function nativeRoutes(app: FastifyInstance, ctx: ServerContext, hub: WatchHub): void {
  app.get<{ Params: ConfigParams; Querystring: VersionQuery }>(
    '/v1/config/:service/:env',
    async (req, reply) => {
      const { resolution, decrypt } = read(ctx, {
        service: req.params.service,
        env: req.params.env,
        version: req.query.version,
        authorization: req.headers.authorization,
      });
      const body = nativeBody(resolution, decrypt, ctx.keys);
      return reply.type('application/json').header('etag', `"${resolution.revision}"`).send(body);
    },
  );

  app.post<{ Body: unknown }>('/v1/encrypt', async (req, reply) => {
    requireOperator(ctx.auth.authenticate(req.headers.authorization));
    if (ctx.keys.activeId === undefined) {
      throw new UnsupportedOperationError('no encryption keys configured (FLOTILLA_CONFIG_KEYS)');
    }
    if (typeof req.body === 'string')
      return reply.type('text/plain; charset=utf-8').send(ctx.keys.encrypt(req.body));
    const body = EncryptBody.assert(req.body);
    if (body.keyId !== undefined && !ctx.keys.ids().includes(body.keyId)) {
      throw new ValidationError(`/body/keyId: unknown key id "${body.keyId}"`, {
        data: {
          errors: [{ field: '/body/keyId', message: `should be one of ${ctx.keys.ids().join(', ')}` }],
        },
      });
    }
    const keyId = body.keyId ?? ctx.keys.activeId;
    return { cipher: ctx.keys.encrypt(body.value, keyId), keyId };
  });

  app.get('/health', async () => ({
    status: 'UP',
    watchers: hub.size,
    sources: ctx.sources.map((s) => ({
      kind: s.kind,
      description: s.description,
      problems: s
        .snapshot()
        .problems()
        .map((d) => ({ source: d.name, ...d.problem })),
    })),
  }));

  app.get('/metrics', async (_req, reply) =>
    reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  );
}
