import { type IncomingMessage, request, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { Headers, problem } from '@flotilla/core';
import { admitUpgrade } from './features/upgrade.js';
import type { Gateway } from './gateway.js';
import { upstreamRequestHeaders } from './proxy/headers.js';
import { nextTraceparent, requestIdOf } from './proxy/ids.js';
import type { RouteMatch } from './routes/table.js';
import { Upstreams } from './upstreams/upstreams.js';

const FRAMING = new Set(['transfer-encoding', 'content-length', 'connection', 'keep-alive']);

/** Writes a complete HTTP/1.1 response on a raw socket (before any upgrade happened). */
function rawProblem(
  socket: Duplex,
  status: number,
  code: string,
  detail: string,
  requestId: string,
  extra: Record<string, string> = {},
): void {
  const body = JSON.stringify(problem({ status, code, detail, instance: requestId }));
  let more = '';
  for (const [name, value] of Object.entries(extra)) more += `${name}: ${value}\r\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/problem+json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${Headers.requestId}: ${requestId}\r\n${more}connection: close\r\n\r\n${body}`,
  );
}

function head(
  statusLine: string,
  rawHeaders: readonly string[],
  extra: Record<string, string>,
  skip?: Set<string>,
): string {
  let text = `${statusLine}\r\n`;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (skip?.has(rawHeaders[i]!.toLowerCase())) continue;
    text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  }
  for (const [name, value] of Object.entries(extra)) text += `${name}: ${value}\r\n`;
  return `${text}\r\n`;
}

/**
 * Tunnels an upgrade (WebSocket) to the route's upstream: the handshake is forwarded with the
 * usual proxy headers (plus `Connection: upgrade` and `Upgrade`, the hop-by-hop pair this one
 * hop needs), and after the upstream's 101 the two sockets are piped both ways, byte for byte.
 */
export function tunnelUpgrade(
  gateway: Gateway,
  req: IncomingMessage,
  socket: Duplex,
  bufferedHead: Buffer,
): void {
  const requestId = requestIdOf(req.headers[Headers.requestId]);
  socket.on('error', () => socket.destroy());
  const match = gateway.matchUpgrade(req);
  if (match?.route.action.kind !== 'proxy') {
    rawProblem(socket, 404, 'ROUTE_NOT_FOUND', `No route matches ${req.method} ${req.url}`, requestId);
    return;
  }
  const features = gateway.featuresOf(match.route);
  if (!features?.auth && !features?.rateLimit) {
    tunnel(gateway, req, socket, bufferedHead, match, requestId, undefined);
    return;
  }
  // An upgrade is authenticated and rate-limited like any request before it reaches the upstream.
  void admitUpgrade(features, req).then(
    (admitted) => {
      if (socket.destroyed) return;
      if (admitted.ok) tunnel(gateway, req, socket, bufferedHead, match, requestId, admitted.principal);
      else {
        const p = admitted.problem;
        rawProblem(socket, p.status, p.code, p.detail ?? '', requestId, admitted.headers);
      }
    },
    () => rawProblem(socket, 500, 'INTERNAL', 'Authentication failed unexpectedly', requestId),
  );
}

function tunnel(
  gateway: Gateway,
  req: IncomingMessage,
  socket: Duplex,
  bufferedHead: Buffer,
  match: RouteMatch,
  requestId: string,
  principal: string | undefined,
): void {
  const route = match.route;
  const leg = gateway.pickLeg(route);
  let origin: string;
  if (leg.kind === 'url') origin = leg.origin;
  else {
    const instance = gateway.upstreams.source
      ? gateway.upstreams.balancer(leg.strategy).pick(leg.key)
      : undefined;
    if (!instance) {
      rawProblem(socket, 503, 'NO_INSTANCE', `No instance of service "${leg.key}" is available`, requestId);
      return;
    }
    origin = Upstreams.origin(instance);
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = gateway.upstreamPath(
    route,
    leg,
    match,
    q < 0 ? url : url.slice(0, q),
    q < 0 ? '' : url.slice(q),
  );
  const headers = upstreamRequestHeaders(req, {
    requestId,
    traceparent: nextTraceparent(req.headers.traceparent),
  });
  if (principal !== undefined) headers[Headers.principal] = principal;
  headers.connection = 'upgrade';
  headers.upgrade = req.headers.upgrade;
  const target = new URL(origin);
  const upstream = request({
    host: target.hostname.replace(/^\[|\]$/g, ''),
    port: target.port,
    path,
    method: req.method,
    headers: headers as Record<string, string>,
    agent: false,
  });
  upstream.on('upgrade', (res, upstreamSocket, upstreamHead) => {
    socket.write(
      head(`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`, res.rawHeaders, {
        [Headers.requestId]: requestId,
      }),
    );
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (bufferedHead.length > 0) upstreamSocket.write(bufferedHead);
    upstreamSocket.on('error', () => socket.destroy());
    socket.on('error', () => upstreamSocket.destroy());
    socket.on('close', () => upstreamSocket.destroy());
    upstreamSocket.on('close', () => socket.destroy());
    upstreamSocket.pipe(socket).pipe(upstreamSocket);
  });
  upstream.on('response', (res) => {
    // The upstream refused the upgrade: relay its answer and close.
    // The body is relayed decoded and delimited by closing the connection.
    socket.write(
      head(
        `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`,
        res.rawHeaders,
        { connection: 'close' },
        FRAMING,
      ),
    );
    res.pipe(socket);
  });
  upstream.on('error', (error) => {
    if (socket.destroyed) return;
    rawProblem(
      socket,
      502,
      'BAD_GATEWAY',
      `Upstream ${leg.key} failed: ${(error as { code?: string }).code ?? error.message}`,
      requestId,
    );
  });
  socket.on('close', () => upstream.destroy());
  upstream.end();
}
