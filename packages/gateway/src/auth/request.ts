import type { IncomingHttpHeaders } from 'node:http';

/**
 * The part of a node:http `IncomingMessage` the security and traffic modules read. A real
 * `IncomingMessage` satisfies it, and so does a plain object in a test or a composite leg.
 */
export interface RequestLike {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  socket?: { remoteAddress?: string | undefined } | undefined;
}

/** The first value of a request header (node joins most repeated headers, but not all). */
export function headerValue(req: RequestLike, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A query parameter of the request URL, or undefined. */
export function queryParam(req: RequestLike, name: string): string | undefined {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url.slice(q + 1)).get(name) ?? undefined;
}
