import type { FastifyInstance } from 'fastify';
import { read, type ServerContext } from '../context.js';
import type { WatchHub } from '../watch-hub.js';
import type { ConfigParams, VersionQuery } from './native-api.js';

/**
 * `GET /v1/watch/{service}/{env}[?version=]`: server-sent events, a `config` event with the
 * resolved document at once (unless `Last-Event-ID` already names its revision) and after
 * every change, or a `problem` event when its secrets cannot be decrypted.
 */
export function watchRoutes(app: FastifyInstance, ctx: ServerContext, hub: WatchHub): void {
  app.get<{ Params: ConfigParams; Querystring: VersionQuery }>(
    '/v1/watch/:service/:env',
    async (req, reply) => {
      const { resolution, decrypt } = read(ctx, {
        service: req.params.service,
        env: req.params.env,
        version: req.query.version,
        authorization: req.headers.authorization,
      });
      const lastEventId = req.headers['last-event-id'];
      reply.hijack();
      hub.open(
        reply.raw,
        resolution.request,
        decrypt,
        typeof lastEventId === 'string' ? lastEventId : undefined,
      );
    },
  );
}
