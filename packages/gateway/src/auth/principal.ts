import { Headers } from '@flotilla/core';
import type { Claims } from './outcome.js';

/** The header that carries verified claims to services (`x-flotilla-principal`). */
export const PRINCIPAL_HEADER = Headers.principal;

/** Claims forwarded by default: enough to authorize, small enough for every request. */
export const PRINCIPAL_CLAIMS = ['sub', 'scope', 'iss', 'aud', 'exp', 'client_id'] as const;

/** Decoding refuses headers past this size (a service must not parse unbounded input). */
const MAX_HEADER_CHARS = 8_192;

/**
 * The `x-flotilla-principal` value for `claims`: base64url JSON of the default claims plus
 * `extra` ones. `scp` arrays are folded into `scope` so services read one form.
 */
export function encodePrincipal(claims: Claims, extra: readonly string[] = []): string {
  const out: Record<string, unknown> = {};
  for (const name of [...PRINCIPAL_CLAIMS, ...extra]) {
    const value = claims[name];
    if (value !== undefined) out[name] = value;
  }
  if (out.scope === undefined && Array.isArray(claims.scp)) out.scope = claims.scp.join(' ');
  return Buffer.from(JSON.stringify(out)).toString('base64url');
}

/** Claims from an `x-flotilla-principal` value, or undefined when it is absent or malformed. */
export function decodePrincipal(value: string | string[] | undefined): Claims | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.length === 0 || text.length > MAX_HEADER_CHARS) return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Claims)
      : undefined;
  } catch {
    return undefined;
  }
}
