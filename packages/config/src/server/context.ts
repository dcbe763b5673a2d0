import { type Logger, ValidationError } from '@flotilla/core';
import semver from 'semver';
import { UnauthorizedError } from '../errors.js';
import { assertName, parseProfiles } from '../names.js';
import { mayDecrypt, type Principal, type TokenAuth } from './auth.js';
import type { ConfigMetrics } from './metrics.js';
import type { Resolution, Resolver } from './resolve.js';
import type { KeyRing } from './secrets.js';
import type { PostgresSource } from './sources/postgres-source.js';
import type { ConfigSource } from './sources/source.js';

/** What the HTTP handlers share. */
export interface ServerContext {
  resolver: Resolver;
  sources: readonly ConfigSource[];
  /** The PostgreSQL source, when the server has a store (admin writes need it). */
  store: PostgresSource | undefined;
  keys: KeyRing;
  auth: TokenAuth;
  /** Refuse reads without a token. */
  requireAuth: boolean;
  logger: Logger;
  metrics: ConfigMetrics;
}

/** A validated read: what to resolve and whether the caller sees plaintext secrets. */
export interface ReadRequest {
  resolution: Resolution;
  decrypt: boolean;
  principal: Principal;
}

/**
 * Checks names and credentials of a read of `service`/`env` at `version` and resolves it.
 * `where` names the request parts in error pointers (`/params`, `/query`).
 */
export function read(
  ctx: ServerContext,
  input: { service: string; env: string; version: string | undefined; authorization: string | undefined },
  where = { service: '/params/service', env: '/params/env', version: '/query/version' },
): ReadRequest {
  assertName(input.service, where.service);
  const profiles = parseProfiles(input.env, where.env);
  let version: string | null = null;
  if (input.version !== undefined && input.version !== '') {
    version = semver.valid(input.version);
    if (version === null) {
      throw new ValidationError(`${where.version} should be a semver version, got "${input.version}"`, {
        data: { errors: [{ field: where.version, message: 'should be a semver version like 2.1.0' }] },
      });
    }
  }
  const principal = ctx.auth.authenticate(input.authorization);
  if (ctx.requireAuth && principal.kind === 'anonymous') {
    throw new UnauthorizedError('this config server needs a token to read config');
  }
  const decrypt = mayDecrypt(principal, input.service);
  const resolution = ctx.resolver.resolve({ service: input.service, profiles, version });
  return { resolution, decrypt, principal };
}
