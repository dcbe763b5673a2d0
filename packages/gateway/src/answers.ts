import type { ServerResponse } from 'node:http';
import { Headers, type Problem, problem, sendProblem } from '@flotilla/core';
import type { HeaderRecord } from './proxy/headers.js';
import type { CompiledRoute, RouteAction, StaticResponse } from './routes/compile.js';
import { applyHeaderOps } from './routes/header-ops.js';
import { renderPathTemplate } from './routes/path-template.js';
import type { RouteMatch } from './routes/table.js';
import { applySecureHeaders } from './traffic/secure-headers.js';

/** Adds `extra` to `headers`; `Vary` lists are merged, since the cache and CORS both vary. */
export function withExtra<H extends Record<string, unknown>>(headers: H, extra: Record<string, string>): H {
  const target = headers as Record<string, unknown>;
  for (const name in extra) {
    const value = extra[name]!;
    const existing = target[name];
    target[name] = name === 'vary' && existing !== undefined ? `${String(existing)}, ${value}` : value;
  }
  return headers;
}

/** A problem+json answer with the request id, `headers` and the secure headers. */
export function sendProblemOf(
  res: ServerResponse,
  requestId: string,
  p: Problem,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const out: Record<string, string> = { ...headers, [Headers.requestId]: requestId };
  sendProblem(res, { ...p, instance: requestId }, applySecureHeaders(out));
}

/** A problem+json answer built from its status, code and detail. */
export function sendProblemAnswer(
  res: ServerResponse,
  requestId: string,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, string> = {},
): void {
  sendProblemOf(res, requestId, problem({ status, code, detail }), extra);
}

/** 413 for a request body over `limit` bytes. */
export function sendTooLarge(res: ServerResponse, requestId: string, limit: number): void {
  // The unread body is not drained: the connection closes after the answer.
  sendProblemAnswer(
    res,
    requestId,
    413,
    'PAYLOAD_TOO_LARGE',
    `The request body exceeds the limit of ${limit} bytes`,
    {
      connection: 'close',
    },
  );
}

/** A route's static response (or fallback), with the route's response headers. */
export function sendStatic(
  res: ServerResponse,
  route: CompiledRoute,
  response: StaticResponse,
  requestId: string,
  extra?: Record<string, string>,
): void {
  const headers: HeaderRecord = { ...response.headers, 'content-length': String(response.body.length) };
  headers[Headers.requestId] = requestId;
  if (extra) withExtra(headers, extra);
  if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
  applySecureHeaders(headers);
  res.writeHead(response.status, headers as Record<string, string>);
  res.end(response.body);
}

/** A redirect route's answer: `Location` from its template, the query kept when it says so. */
export function sendRedirect(
  res: ServerResponse,
  route: CompiledRoute,
  action: Extract<RouteAction, { kind: 'redirect' }>,
  params: RouteMatch['params'],
  search: string,
  requestId: string,
  extra?: Record<string, string>,
): void {
  let location = renderPathTemplate(action.to, params);
  if (action.keepQuery && search) location += location.includes('?') ? `&${search.slice(1)}` : search;
  const headers: HeaderRecord = { location, 'content-length': '0', [Headers.requestId]: requestId };
  if (extra) withExtra(headers, extra);
  if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
  applySecureHeaders(headers);
  res.writeHead(action.status, headers as Record<string, string>);
  res.end();
}
