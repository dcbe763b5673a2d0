// A sketch, not a server: how fast the gateway's plain route could be without node:http on the
// client side. A raw `net` server reads request heads (GET without a body only, no validation,
// no timeouts), adds the headers Flotilla adds (forwarding, request id, trace context, deadline),
// sends the request through the gateway's own HTTP/1.1 pool, and writes the response head (the
// upstream's headers, the request id and the seven secure headers) and body in one write. The
// gateway benchmark runs it as a row of its own to show the ceiling of that design; the gateway
// README (*Where the time goes*) has the numbers and what a real front would have to do.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Http1Pool } from '../packages/gateway/dist/proxy/http1/pool.js';

const SECURE_HEADERS =
  'strict-transport-security: max-age=31536000; includeSubDomains\r\n' +
  'x-content-type-options: nosniff\r\nx-frame-options: DENY\r\n' +
  "content-security-policy: frame-ancestors 'none'\r\nreferrer-policy: no-referrer\r\n" +
  'cross-origin-opener-policy: same-origin\r\nx-permitted-cross-domain-policies: none\r\n';
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

let random = Buffer.alloc(0);
let used = 0;
/** `bytes` random bytes as hex, from a refilled 4 KiB pool. */
function hex(bytes) {
  if (used + bytes > random.length) {
    random = randomBytes(4096);
    used = 0;
  }
  used += bytes;
  return random.toString('hex', used - bytes, used);
}

/** One client connection: requests are answered one after another, in order. */
class ClientConnection {
  constructor(socket, pools) {
    this.socket = socket;
    this.pools = pools;
    this.buffered = '';
    this.busy = false;
    socket.setNoDelay(true);
    socket.on('data', (data) => {
      this.buffered += data.toString('latin1');
      this.next();
    });
    socket.on('error', () => {});
  }

  next() {
    if (this.busy) return;
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = this.buffered.slice(0, end).split('\r\n');
    this.buffered = this.buffered.slice(end + 4);
    const [method, path] = lines[0].split(' ');
    const headers = {};
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      const name = lines[i].slice(0, colon).toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      if (name === 'host') headers['x-forwarded-host'] = value;
      else if (!HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const requestId = hex(16);
    headers['x-forwarded-for'] = this.socket.remoteAddress;
    headers['x-forwarded-proto'] = 'http';
    headers['x-request-id'] = requestId;
    headers.traceparent = `00-${hex(16)}-${hex(8)}-01`;
    headers['x-flotilla-deadline'] = String(Date.now() + 30_000);
    const pool = this.pools.get(path);
    if (!pool) {
      this.socket.write('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return this.next();
    }
    this.busy = true;
    pool.dispatch({ path: '/json', method, headers, body: null }, new Exchange(this, requestId));
  }
}

/** The pool's handler for one request: collects the (small) response, then writes it whole. */
class Exchange {
  constructor(connection, requestId) {
    this.connection = connection;
    this.requestId = requestId;
    this.head = '';
    this.chunks = [];
  }

  onResponseStart(_controller, statusCode, headers) {
    let head = `HTTP/1.1 ${statusCode} OK\r\n`;
    for (const name in headers) if (!HOP_BY_HOP.has(name)) head += `${name}: ${headers[name]}\r\n`;
    this.head = `${head}x-request-id: ${this.requestId}\r\n${SECURE_HEADERS}\r\n`;
  }

  onResponseData(_controller, chunk) {
    this.chunks.push(chunk);
  }

  onResponseEnd() {
    const { socket } = this.connection;
    socket.cork();
    socket.write(this.head, 'latin1');
    for (const chunk of this.chunks) socket.write(chunk);
    socket.uncork();
    this.connection.busy = false;
    this.connection.next();
  }

  onResponseError() {
    this.connection.socket.destroy();
  }
}

/**
 * Starts the sketch with one route per entry of `upstreams` (exact request path → upstream port,
 * requested as `/json`); resolves with its own port.
 */
export async function startFrontSketch(upstreams) {
  const pools = new Map(
    Object.entries(upstreams).map(([path, port]) => [
      path,
      new Http1Pool(`http://127.0.0.1:${port}`, { connections: null, keepAliveTimeout: 4_000 }),
    ]),
  );
  const server = createServer((socket) => new ClientConnection(socket, pools));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}
