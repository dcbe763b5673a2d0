import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import semver from 'semver';
import { UnsupportedOperationError } from '../../errors.js';
import { requireOperator } from '../auth.js';
import { read, type ServerContext } from '../context.js';
import { CIPHER_PREFIX } from '../secrets.js';
import {
  normalizeLabel,
  parseSpringDocumentName,
  SPRING_V2_JSON,
  type SpringFormat,
  springContentType,
  springDocument,
  springEnvironment,
} from '../spring.js';
import { decryptedConfig, memoized } from '../views.js';
import { sendProblem } from './problems.js';

const WHERE = { service: '/params/application', env: '/params/profile', version: '/params/label' };

/**
 * Spring Cloud Config's HTTP API: `/{application}/{profile}[/{label}]` (the Environment JSON),
 * `[/{label}]/{application}-{profile}.{yml,yaml,properties,json}` (the merged document), and
 * `POST /encrypt` for operators. A label that is a semver version selects version-specific
 * layers; any other label is echoed but selects nothing (there is one checkout, not branches).
 */
export function springRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const environment = (
    req: FastifyRequest,
    reply: FastifyReply,
    application: string,
    profile: string,
    rawLabel: string | undefined,
  ) => {
    const label = rawLabel === undefined ? null : normalizeLabel(rawLabel);
    const { resolution, decrypt } = read(
      ctx,
      {
        service: application,
        env: profile,
        version: label !== null && semver.valid(label) ? label : undefined,
        authorization: req.headers.authorization,
      },
      WHERE,
    );
    const includeOrigin = (req.headers.accept ?? '').includes(SPRING_V2_JSON);
    const body = memoized(resolution, `env:${decrypt}:${includeOrigin}:${label ?? ''}`, () =>
      JSON.stringify(springEnvironment(resolution, { label, decrypt, keys: ctx.keys, includeOrigin })),
    );
    return reply.type(includeOrigin ? SPRING_V2_JSON : 'application/json').send(body);
  };

  const document = (
    req: FastifyRequest,
    reply: FastifyReply,
    spec: { application: string; profile: string; format: SpringFormat },
    rawLabel: string | undefined,
  ) => {
    const label = rawLabel === undefined ? undefined : normalizeLabel(rawLabel);
    const { resolution, decrypt } = read(
      ctx,
      {
        service: spec.application,
        env: spec.profile,
        version: label !== undefined && semver.valid(label) ? label : undefined,
        authorization: req.headers.authorization,
      },
      WHERE,
    );
    const body = memoized(resolution, `doc:${decrypt}:${spec.format}`, () =>
      springDocument(decrypt ? decryptedConfig(resolution, ctx.keys) : resolution.config, spec.format),
    );
    return reply.type(springContentType(spec.format)).send(body);
  };

  const notFound = (req: FastifyRequest, reply: FastifyReply) =>
    sendProblem(reply, {
      type: 'urn:flotilla:problem:not-found',
      title: 'Not Found',
      status: 404,
      code: 'NOT_FOUND',
      detail: `no route GET ${req.url}`,
    });

  app.get<{ Params: { document: string } }>('/:document', async (req, reply) => {
    const spec = parseSpringDocumentName(req.params.document);
    return spec ? document(req, reply, spec, undefined) : notFound(req, reply);
  });

  app.get<{ Params: { application: string; profile: string } }>(
    '/:application/:profile',
    async (req, reply) => {
      // `/{label}/{application}-{profile}.yml` has the same shape; the extension tells them apart.
      const spec = parseSpringDocumentName(req.params.profile);
      if (spec) return document(req, reply, spec, req.params.application);
      return environment(req, reply, req.params.application, req.params.profile, undefined);
    },
  );

  app.get<{ Params: { application: string; profile: string; label: string } }>(
    '/:application/:profile/:label',
    async (req, reply) =>
      environment(req, reply, req.params.application, req.params.profile, req.params.label),
  );

  // Spring's /encrypt: plain text in, ciphertext out without the `{cipher}` prefix.
  app.post<{ Body: unknown }>('/encrypt', async (req, reply) => {
    requireOperator(ctx.auth.authenticate(req.headers.authorization));
    if (ctx.keys.activeId === undefined) {
      throw new UnsupportedOperationError('no encryption keys configured (FLOTILLA_CONFIG_KEYS)');
    }
    const text = typeof req.body === 'string' ? req.body : JSON.stringify(req.body ?? '');
    return reply.type('text/plain; charset=utf-8').send(ctx.keys.encrypt(text).slice(CIPHER_PREFIX.length));
  });
}
