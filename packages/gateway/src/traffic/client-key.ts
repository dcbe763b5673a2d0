import { createHash } from 'node:crypto';
import type { Claims } from '../auth/outcome.js';
import { headerValue, type RequestLike } from '../auth/request.js';

/** The caller's IP address, with IPv4-mapped IPv6 (`::ffff:10.0.0.1`) shown as IPv4. */
export function clientIp(req: RequestLike): string {
  const address = req.socket?.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Who a limit or cache entry belongs to: `client:<id>`, `ip:<addr>` or `header:<value>`. */
export type KeySource = 'client' | 'ip' | `header:${string}`;

/**
 * The partition key of a request. `client` uses the verified `client_id` (else `sub`) and falls
 * back to the IP for anonymous callers; a header falls back to the IP when it is absent, so a
 * client cannot escape a limit by leaving the header out. Long values are hashed to bound the
 * size of limiter state.
 */
export function partitionKey(source: KeySource, req: RequestLike, claims?: Claims): string {
  if (source === 'client') {
    const id = claims?.client_id ?? claims?.sub;
    if (typeof id === 'string' && id !== '') return `client:${bounded(id)}`;
  } else if (source !== 'ip') {
    const value = headerValue(req, source.slice('header:'.length).toLowerCase());
    if (value !== undefined && value !== '') return `header:${bounded(value)}`;
  }
  return `ip:${clientIp(req)}`;
}

function bounded(value: string): string {
  return value.length <= 64 ? value : createHash('sha256').update(value).digest('base64url');
}
