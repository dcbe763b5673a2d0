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
  sendProblem(res, { ...p, instance: requestId }, problemHeaders(requestId, headers));
}

/** Headers of a problem answer besides its content type and length: `headers`, the request id, the secure ones. */
export function problemHeaders(
  requestId: string,
  headers: Record<string, string> = {},
): Record<string, string> {
  return applySecureHeaders({ ...headers, [Headers.requestId]: requestId });
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

/** Headers of an allowed CORS preflight's answer (204, no body): the policy's, the request id, the secure ones. */
export function preflightHeaders(policy: Record<string, string>, requestId: string): Record<string, string> {
  return applySecureHeaders({ ...policy, 'content-length': '0', [Headers.requestId]: requestId });
}

/** The route label of requests no route matches, in metrics. */
export const NO_ROUTE = '(none)';

/** The problem of a request no route matches (404). */
export function noRouteProblem(method: string, pathname: string): Problem {
  return problem({ status: 404, code: 'ROUTE_NOT_FOUND', detail: `No route matches ${method} ${pathname}` });
}

/** The problem of a request path that cannot be decoded (400). */
export function badPathProblem(): Problem {
  return problem({
    status: 400,
    code: 'BAD_PATH',
    detail: 'The request path is not valid (bad percent-encoding)',
  });
}

/** The problem of an upstream answer whose headers cannot be written to the client (502). */
export function unrelayableHeadersProblem(): Problem {
  return problem({
    status: 502,
    code: 'BAD_UPSTREAM_RESPONSE',
    detail: 'The upstream sent headers that cannot be relayed',
  });
}

/** The problem of a request body over `limit` bytes (413). */
export function tooLargeProblem(limit: number): Problem {
  return problem({
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    detail: `The request body exceeds the limit of ${limit} bytes`,
  });
}

/** 413 for a request body over `limit` bytes. */
export function sendTooLarge(res: ServerResponse, requestId: string, limit: number): void {
  // The unread body is not drained: the connection closes after the answer.
  sendProblemOf(res, requestId, tooLargeProblem(limit), { connection: 'close' });
}

/** A route's static response (or fallback), with the route's response headers. */
export function sendStatic(
  res: ServerResponse,
  route: CompiledRoute,
  response: StaticResponse,
  requestId: string,
  extra?: Record<string, string>,
): void {
  res.writeHead(response.status, staticHeaders(route, response, requestId, extra) as Record<string, string>);
  res.end(response.body);
}

/** The headers of a static response: its own, the request id, `extra`, the route's operations, the secure ones. */
export function staticHeaders(
  route: CompiledRoute,
  response: StaticResponse,
  requestId: string,
  extra: Record<string, string> | undefined,
): HeaderRecord {
  const headers: HeaderRecord = { ...response.headers, 'content-length': String(response.body.length) };
  headers[Headers.requestId] = requestId;
  if (extra) withExtra(headers, extra);
  if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
  return applySecureHeaders(headers);
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
  res.writeHead(
    action.status,
    redirectHeaders(route, action, params, search, requestId, extra) as Record<string, string>,
  );
  res.end();
}

/** A redirect route's answer headers: `Location` from its template, the query kept when it says so. */
export function redirectHeaders(
  route: CompiledRoute,
  action: Extract<RouteAction, { kind: 'redirect' }>,
  params: RouteMatch['params'],
  search: string,
  requestId: string,
  extra: Record<string, string> | undefined,
): HeaderRecord {
  let location = renderPathTemplate(action.to, params);
  if (action.keepQuery && search) location += location.includes('?') ? `&${search.slice(1)}` : search;
  const headers: HeaderRecord = { location, 'content-length': '0', [Headers.requestId]: requestId };
  if (extra) withExtra(headers, extra);
  if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
  return applySecureHeaders(headers);
}

/** The answers node:http's `clientError` (and the fast-path front) write on the raw socket. */
const CLIENT_ERRORS: Record<400 | 408 | 431, readonly [code: string, reason: string, detail: string]> = {
  400: ['BAD_REQUEST', 'Bad Request', 'The request is not valid HTTP/1.1'],
  408: ['REQUEST_TIMEOUT', 'Request Timeout', 'The request was not received in time'],
  431: [
    'HEADERS_TOO_LARGE',
    'Request Header Fields Too Large',
    'The request head is larger than the gateway accepts',
  ],
};

/** The bytes of a 400, 408 or 431 problem answer that closes the connection (no request was read whole). */
export function clientErrorAnswer(status: 400 | 408 | 431): string {
  const [code, reason, detail] = CLIENT_ERRORS[status];
  const body = JSON.stringify(
    problem({
      status,
      code,
      detail,
      ...(status === 431 ? { title: 'Request Header Fields Too Large' } : {}),
    }),
  );
  return (
    `HTTP/1.1 ${status} ${reason}\r\n` +
    `content-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}
