import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, problem, sendProblem, systemClock } from '@flotilla/core';
import { parseDuration } from '@flotilla/resilience';
import { type JSONWebKeySet, SignJWT } from 'jose';
import { badConfig } from '../auth/config.js';
import { ClientRegistry, type IssuerClient } from './clients.js';
import { loadOrCreateKey } from './keystore.js';
import { handleTokenRequest } from './token-endpoint.js';

/** Default data directory of the development issuer, relative to the working directory. */
export const DEFAULT_ISSUER_DIR = '.flotilla/issuer';
/** Default port of `flotilla issuer`. */
export const DEFAULT_ISSUER_PORT = 8099;
/** Default audience of issued tokens. */
export const DEFAULT_AUDIENCE = 'flotilla';

/** Options of the development token issuer. */
export interface DevIssuerOptions {
  /** Where the signing key lives (created on first use). */
  dataDir: string;
  /** `iss` of issued tokens and base of its URLs, e.g. `http://127.0.0.1:8099`. */
  issuer: string;
  /** Default `aud`. Default `flotilla`. */
  audience?: string;
  /** Default lifetime of tokens. Default `1h`. */
  ttl?: string | number;
  /** OAuth2 clients allowed to use the token endpoint. */
  clients?: readonly IssuerClient[];
  clock?: Clock;
}

/** What a token is made of. */
export interface SignRequest {
  sub: string;
  /** Space-separated scopes, or a list. */
  scope?: string | string[];
  /** Default the issuer's audience. */
  audience?: string | string[];
  /** Lifetime, e.g. `15m`. Default the issuer's. */
  ttl?: string | number;
  /** Extra claims; they cannot override iss, iat, exp or jti. */
  claims?: Record<string, unknown>;
}

/** A development token issuer. */
export interface DevIssuer {
  readonly issuer: string;
  readonly kid: string;
  /** Signs a JWT with the issuer's key. */
  sign(request: SignRequest): Promise<string>;
  /** The public key set (`/.well-known/jwks.json`). */
  jwks(): JSONWebKeySet;
  /** Serves the JWKS, the OpenID discovery document and the token endpoint; 404 elsewhere. */
  handler(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * A token issuer for development: real ES256 tokens from a key kept in `dataDir`, so a local
 * system verifies them exactly as it would a real identity provider's. Not for production: it
 * has no user login, no key rotation and no revocation.
 */
export async function createDevIssuer(options: DevIssuerOptions): Promise<DevIssuer> {
  let base: URL;
  try {
    base = new URL(options.issuer);
  } catch {
    badConfig('issuer', 'an http(s) URL', options.issuer);
  }
  if (!/^https?:$/.test(base.protocol)) badConfig('issuer', 'an http(s) URL', options.issuer);
  const issuer = options.issuer.replace(/\/+$/, '');
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  const clock = options.clock ?? systemClock;
  const defaultTtlMs = parseDuration(options.ttl ?? '1h', 'ttl');
  const key = await loadOrCreateKey(options.dataDir);
  const clients = new ClientRegistry(options.clients ?? []);

  async function sign(request: SignRequest): Promise<string> {
    if (typeof request.sub !== 'string' || request.sub === '')
      badConfig('sub', 'a non-empty string', request.sub);
    const ttlMs = request.ttl === undefined ? defaultTtlMs : parseDuration(request.ttl, 'ttl');
    const now = Math.floor(clock.now() / 1000);
    const scope = Array.isArray(request.scope) ? request.scope.join(' ') : request.scope;
    const payload: Record<string, unknown> = { ...request.claims };
    if (scope) payload.scope = scope;
    return new SignJWT(payload)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setSubject(request.sub)
      .setAudience(request.audience ?? audience)
      .setIssuedAt(now)
      .setExpirationTime(now + Math.max(1, Math.round(ttlMs / 1000)))
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  const jwks = (): JSONWebKeySet => ({ keys: [key.publicJwk] });
  const discovery = {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/oauth/token`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    id_token_signing_alg_values_supported: [key.alg],
  };
  const grantor = {
    clients,
    ttlSeconds: Math.round(defaultTtlMs / 1000),
    sign: (client: IssuerClient, scopes: string[]) =>
      sign({
        sub: client.clientId,
        scope: scopes,
        audience: client.audience,
        claims: { client_id: client.clientId },
      }),
  };

  function handler(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/jwks.json' || path === '/.well-known/openid-configuration') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const body = JSON.stringify(path === '/.well-known/jwks.json' ? jwks() : discovery);
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'public, max-age=300',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/oauth/token') {
      handleTokenRequest(req, res, grantor).catch((error: unknown) => {
        if (!res.headersSent)
          sendProblem(res, problem({ status: 500, code: 'INTERNAL', detail: 'Token endpoint failed' }));
        else res.destroy(error as Error);
      });
      return;
    }
    sendProblem(res, problem({ status: 404, code: 'NOT_FOUND', detail: `No issuer endpoint at ${path}` }));
  }

  return { issuer, kid: key.kid, sign, jwks, handler };
}
