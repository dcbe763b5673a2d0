import { type Problem, problem } from '@flotilla/core';

/** Verified claims of a caller (a JWT payload, or the claims an API key stands for). */
export type Claims = Record<string, unknown> & {
  sub?: string;
  iss?: string;
  aud?: string | string[];
  exp?: number;
  scope?: string;
  client_id?: string;
};

/** How a caller was authenticated. */
export type AuthMethod = 'jwt' | 'api-key' | 'anonymous';

/** A request that may go on, with who made it (`claims` is undefined when anonymous). */
export interface AuthSuccess {
  ok: true;
  method: AuthMethod;
  claims: Claims | undefined;
}

/**
 * A request to answer with `problem` and `headers` (which carry `WWW-Authenticate`): 401 for a
 * missing or bad credential, 403 for a good one without the rights, 503 when the keys that
 * would verify it cannot be fetched (so clients do not throw away a good token).
 */
export interface AuthFailure {
  ok: false;
  status: 401 | 403 | 503;
  problem: Problem;
  wwwAuthenticate: string | undefined;
  headers: Record<string, string>;
}

/** Result of authenticating one request. */
export type AuthOutcome = AuthSuccess | AuthFailure;

/** RFC 6750 §3 allows only these characters inside a quoted attribute value. */
function quoted(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "'");
}

/** A `WWW-Authenticate` challenge, e.g. `Bearer realm="flotilla", error="invalid_token"`. */
export function challenge(scheme: string, params: Record<string, string | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${quoted(v as string)}"`);
  return parts.length > 0 ? `${scheme} ${parts.join(', ')}` : scheme;
}

function failure(
  status: AuthFailure['status'],
  code: string,
  detail: string,
  wwwAuthenticate: string | undefined,
): AuthFailure {
  const headers: Record<string, string> = wwwAuthenticate ? { 'www-authenticate': wwwAuthenticate } : {};
  return { ok: false, status, problem: problem({ status, code, detail }), wwwAuthenticate, headers };
}

/** 401: no credential was sent. RFC 6750 §3.1: no `error` attribute in that case. */
export function missingCredential(scheme: string, detail: string): AuthFailure {
  return failure(401, 'UNAUTHENTICATED', detail, challenge(scheme, { realm: 'flotilla' }));
}

/** 401: the credential is malformed, forged, expired or for someone else. */
export function invalidCredential(scheme: string, detail: string): AuthFailure {
  return failure(
    401,
    'INVALID_TOKEN',
    detail,
    challenge(scheme, { realm: 'flotilla', error: 'invalid_token', error_description: detail }),
  );
}

/** 403: the credential is good but lacks `scopes` (or a required claim). */
export function insufficientScope(scheme: string, detail: string, scopes: string[]): AuthFailure {
  return failure(
    403,
    'INSUFFICIENT_SCOPE',
    detail,
    challenge(scheme, {
      realm: 'flotilla',
      error: 'insufficient_scope',
      error_description: detail,
      scope: scopes.length > 0 ? scopes.join(' ') : undefined,
    }),
  );
}

/** 503: the verification keys cannot be fetched now; the token may well be good. */
export function verifierUnavailable(detail: string): AuthFailure {
  return failure(503, 'AUTH_UNAVAILABLE', detail, undefined);
}
