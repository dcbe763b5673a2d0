import { type FlotillaError, type Problem, restoreError } from '@flotilla/core';
import { ConfigUnavailableError } from '../errors.js';
import type { ResolvedConfig } from '../wire.js';

/** Where and as whom the client asks. */
export interface Endpoint {
  /** Base URL of the config server, e.g. `http://config:8888`. */
  url: string;
  service: string;
  env: string;
  version: string | undefined;
  token: string | undefined;
}

/** `/v1/<kind>/{service}/{env}[?version=]` on the endpoint. */
export function endpointUrl(endpoint: Endpoint, kind: 'config' | 'watch'): string {
  const base = endpoint.url.replace(/\/+$/, '');
  const path = `/v1/${kind}/${encodeURIComponent(endpoint.service)}/${encodeURIComponent(endpoint.env)}`;
  return `${base}${path}${endpoint.version ? `?version=${encodeURIComponent(endpoint.version)}` : ''}`;
}

export function authHeaders(endpoint: Endpoint): Record<string, string> {
  return endpoint.token ? { authorization: `Bearer ${endpoint.token}` } : {};
}

/** Turns a problem+json body into the error it describes (its class when registered). */
export function problemToError(p: Partial<Problem>, status: number): FlotillaError {
  const detail = p.detail ?? p.title ?? `HTTP ${status}`;
  return restoreError({
    name: errorNameOf(p.code),
    code: p.code ?? 'HTTP_ERROR',
    message: detail,
    retryable: status >= 500 && p.code !== 'CONFIG_DECRYPT_FAILED',
    status,
    ...(p.errors ? { data: { errors: p.errors } } : {}),
  });
}

function errorNameOf(code: string | undefined): string {
  switch (code) {
    case 'CONFIG_DECRYPT_FAILED':
      return 'ConfigDecryptError';
    case 'UNAUTHORIZED':
      return 'UnauthorizedError';
    case 'FORBIDDEN':
      return 'ForbiddenError';
    case 'VALIDATION_FAILED':
      return 'ValidationError';
    default:
      return 'FlotillaError';
  }
}

/**
 * One `GET /v1/config/…`. Network failures, timeouts and 5xx other than a decryption failure
 * are retryable `ConfigUnavailableError`s; anything the server refuses is its own error.
 */
export async function fetchConfig(endpoint: Endpoint, timeoutMs: number): Promise<ResolvedConfig> {
  const url = endpointUrl(endpoint, 'config');
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json', ...authHeaders(endpoint) },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
    const why = cause?.code ?? (error as Error).name;
    throw new ConfigUnavailableError(`cannot reach config server ${endpoint.url}: ${why}`, { cause: error });
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    let body: Partial<Problem> = {};
    try {
      body = JSON.parse(text) as Partial<Problem>;
    } catch {
      // Not problem+json (a proxy's error page): the status says enough.
    }
    const error = problemToError(body, response.status);
    if (error.retryable) {
      throw new ConfigUnavailableError(
        `config server ${endpoint.url} answered ${response.status}: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  try {
    return JSON.parse(text) as ResolvedConfig;
  } catch (cause) {
    throw new ConfigUnavailableError(`config server ${endpoint.url} sent invalid JSON`, { cause });
  }
}
