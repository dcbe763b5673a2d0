import { compileValidator, ValidationError } from '@flotilla/core';
import { type Static, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnsupportedOperationError } from '../../errors.js';
import { assertKey, assertName } from '../../names.js';
import { requireOperator } from '../auth.js';
import type { ServerContext } from '../context.js';
import { isEncrypted, KeyRing } from '../secrets.js';
import { assertScope, type PostgresStore, type StoreChange } from '../sources/postgres-store.js';

const Meta = {
  author: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  message: Type.Optional(Type.String({ maxLength: 2000 })),
};

const PutBody = compileValidator(
  Type.Object(
    { value: Type.Unknown(), secret: Type.Optional(Type.Boolean()), ...Meta },
    { additionalProperties: false },
  ),
  '/body',
);

const ChangeSchema = Type.Object(
  {
    service: Type.String(),
    env: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    versions: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    key: Type.String(),
    value: Type.Optional(Type.Unknown()),
    secret: Type.Optional(Type.Boolean()),
    deleted: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const ChangesBody = compileValidator(
  Type.Object(
    { changes: Type.Array(ChangeSchema, { minItems: 1, maxItems: 1000 }), ...Meta },
    { additionalProperties: false },
  ),
  '/body',
);
const RollbackBody = compileValidator(
  Type.Object({ revision: Type.Integer({ minimum: 1 }), ...Meta }, { additionalProperties: false }),
  '/body',
);
const MetaBody = compileValidator(Type.Object(Meta, { additionalProperties: false }), '/body');

interface ScopeQuery {
  env?: string;
  versions?: string;
  author?: string;
  message?: string;
}

/**
 * The admin API (operator token): what services and environments exist, the PostgreSQL store's
 * values, writes (each one revision with author and message), history, and rollback to any
 * revision (itself a new revision).
 */
export function adminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const operator = (req: FastifyRequest) => requireOperator(ctx.auth.authenticate(req.headers.authorization));
  const store = (): PostgresStore => {
    if (!ctx.store)
      throw new UnsupportedOperationError('this config server has no PostgreSQL store (--store)');
    return ctx.store.store;
  };
  /** Writes, then reloads this replica's snapshot so the reply and the next read agree. */
  const write = async (
    changes: StoreChange[],
    meta: { author?: string; message?: string },
    fallback: string,
  ) => {
    const info = await store().apply(changes, {
      author: meta.author ?? 'operator',
      message: meta.message ?? fallback,
    });
    await ctx.store?.refresh();
    return { changed: info !== null, revision: info?.revision ?? (await store().head()), info };
  };
  const encryptIf = (secret: boolean | undefined, value: unknown, field: string): unknown => {
    if (!secret || isEncrypted(value)) return value;
    if (typeof value !== 'string') {
      throw new ValidationError(`${field} should be a string when secret is true`, {
        data: { errors: [{ field, message: 'should be a string when secret is true' }] },
      });
    }
    if (ctx.keys.activeId === undefined) throw new UnsupportedOperationError('no encryption keys configured');
    return ctx.keys.encrypt(value);
  };

  app.get('/v1/admin/services', async (req) => {
    operator(req);
    const envs = new Map<string, Set<string>>();
    for (const source of ctx.sources) {
      for (const scope of source.snapshot().scopes) {
        const set = envs.get(scope.service) ?? new Set<string>();
        if (scope.env !== null) set.add(scope.env);
        envs.set(scope.service, set);
      }
    }
    const services = [...envs.entries()]
      .map(([service, set]) => ({ service, environments: [...set].sort() }))
      .sort((a, b) => a.service.localeCompare(b.service));
    const environments = [...new Set(services.flatMap((s) => s.environments))].sort();
    return { services, environments };
  });

  app.get<{ Querystring: { service?: string; env?: string } }>('/v1/admin/values', async (req) => {
    operator(req);
    const { service, env } = req.query;
    if (service !== undefined) assertName(service, '/query/service');
    if (env !== undefined && env !== '') assertName(env, '/query/env');
    return { values: await store().values({ service, env: env === undefined ? undefined : env || null }) };
  });

  app.put<{ Params: { service: string; key: string }; Querystring: ScopeQuery; Body: unknown }>(
    '/v1/admin/values/:service/:key',
    async (req) => {
      operator(req);
      const scope = scopeFrom(req.params.service, req.query);
      assertKey(req.params.key, '/params/key');
      const body = PutBody.assert(req.body);
      const value = encryptIf(body.secret, body.value, '/body/value');
      const where = `${scope.service}${scope.env ? `/${scope.env}` : ''}`;
      return write([{ ...scope, key: req.params.key, value }], body, `set ${req.params.key} of ${where}`);
    },
  );

  app.delete<{ Params: { service: string; key: string }; Querystring: ScopeQuery }>(
    '/v1/admin/values/:service/:key',
    async (req) => {
      operator(req);
      const scope = scopeFrom(req.params.service, req.query);
      assertKey(req.params.key, '/params/key');
      const where = `${scope.service}${scope.env ? `/${scope.env}` : ''}`;
      return write(
        [{ ...scope, key: req.params.key, deleted: true }],
        req.query,
        `delete ${req.params.key} of ${where}`,
      );
    },
  );

  app.post<{ Body: unknown }>('/v1/admin/changes', async (req) => {
    operator(req);
    const body = ChangesBody.assert(req.body);
    const changes = body.changes.map((c: Static<typeof ChangeSchema>, i): StoreChange => {
      const scope = { service: c.service, env: c.env || null, versions: c.versions || null };
      assertScope(scope, `/body/changes/${i}`);
      assertKey(c.key, `/body/changes/${i}/key`);
      if (c.deleted) return { ...scope, key: c.key, deleted: true };
      return { ...scope, key: c.key, value: encryptIf(c.secret, c.value, `/body/changes/${i}/value`) };
    });
    return write(changes, body, `${changes.length} change(s)`);
  });

  app.get<{ Querystring: { service?: string; env?: string; key?: string; limit?: string; before?: string } }>(
    '/v1/admin/history',
    async (req) => {
      operator(req);
      const q = req.query;
      if (q.service !== undefined) assertName(q.service, '/query/service');
      if (q.env !== undefined && q.env !== '') assertName(q.env, '/query/env');
      if (q.key !== undefined) assertKey(q.key, '/query/key');
      const limit = positiveInt(q.limit, '/query/limit') ?? 50;
      const before = positiveInt(q.before, '/query/before');
      const revisions = await store().history({
        service: q.service,
        env: q.env === undefined ? undefined : q.env || null,
        key: q.key,
        limit: Math.min(limit, 500),
        before,
      });
      return { revisions };
    },
  );

  app.get<{ Params: { revision: string } }>('/v1/admin/revisions/:revision', async (req) => {
    operator(req);
    return store().revision(positiveInt(req.params.revision, '/params/revision') as number);
  });

  app.get<{ Params: { revision: string } }>('/v1/admin/revisions/:revision/values', async (req) => {
    operator(req);
    const revision = positiveInt(req.params.revision, '/params/revision') as number;
    await store().revision(revision);
    return { revision, values: await store().stateAt(revision) };
  });

  app.post<{ Body: unknown }>('/v1/admin/rollback', async (req) => {
    operator(req);
    const body = RollbackBody.assert(req.body);
    const info = await store().restore(body.revision, {
      author: body.author ?? 'operator',
      message: body.message ?? `restore revision ${body.revision}`,
    });
    await ctx.store?.refresh();
    return { changed: info !== null, revision: info?.revision ?? (await store().head()), info };
  });

  app.post<{ Body: unknown }>('/v1/admin/reencrypt', async (req) => {
    operator(req);
    const body = MetaBody.assert(req.body ?? {});
    const active = ctx.keys.activeId;
    if (active === undefined) throw new UnsupportedOperationError('no encryption keys configured');
    const changes: StoreChange[] = [];
    for (const v of await store().values()) {
      if (isEncrypted(v.value) && KeyRing.keyIdOf(v.value) !== active) {
        changes.push({
          service: v.service,
          env: v.env,
          versions: v.versions,
          key: v.key,
          value: ctx.keys.reencrypt(v.value),
        });
      }
    }
    if (changes.length === 0) return { changed: false, revision: await store().head(), info: null };
    return write(changes, body, `re-encrypt ${changes.length} secret(s) with key ${active}`);
  });
}

function scopeFrom(service: string, query: ScopeQuery) {
  const scope = { service, env: query.env || null, versions: query.versions || null };
  assertName(service, '/params/service');
  if (scope.env !== null) assertName(scope.env, '/query/env');
  assertScope(scope, '/query');
  return scope;
}

function positiveInt(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new ValidationError(`${field} should be a positive integer, got "${text}"`, {
      data: { errors: [{ field, message: 'should be a positive integer' }] },
    });
  }
  return Number(text);
}
