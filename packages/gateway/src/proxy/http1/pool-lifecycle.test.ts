import { createHash } from 'node:crypto';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamExchange } from '../exchange.js';
import { OK, RawServer, Recorder, send, until } from './fixtures/servers.js';
import { Http1Pool } from './pool.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function rawServer(respond: ConstructorParameters<typeof RawServer>[0]): Promise<RawServer> {
  const raw = await RawServer.start(respond);
  cleanups.push(() => raw.stop());
  return raw;
}

function pool(origin: string, connections?: number): Http1Pool {
  const p = new Http1Pool(origin, { keepAliveTimeout: 4000, connections });
  cleanups.push(() => p.destroy());
  return p;
}

/** A Readable that records whether anyone pulled from it. */
function trackedBody(chunks: (string | Buffer)[]): Readable & { pulled: boolean } {
  const queue = [...chunks];
  const stream = new Readable({
    read() {
      stream.pulled = true;
      this.push(queue.length > 0 ? queue.shift()! : null);
    },
  }) as Readable & { pulled: boolean };
  stream.pulled = false;
  return stream;
}

describe('Http1Pool aborts', () => {
  it('sends nothing when aborted from onRequestStart', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    const reason = new Error('changed my mind');
    const r = await send(p, {}, new Recorder({ start: (c) => c.abort(reason) }));
    expect(r.events).toEqual(['start', 'error']);
    expect(r.error).toBe(reason);
    expect(r.controller.aborted).toBe(true);
    expect(r.controller.reason).toBe(reason);
    expect(up.connections).toBe(0);
    expect(p.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
  });

  it('stops a request that is still connecting, before it is sent', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    const recorder = new Recorder();
    const done = send(p, {}, recorder);
    recorder.controller.abort(new Error('stop'));
    recorder.controller.abort(new Error('twice'));
    const r = await done;
    expect(r.events).toEqual(['start', 'error']);
    expect(r.error?.message).toBe('stop');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(up.requests).toHaveLength(0);
    expect(p.stats.running).toBe(0);
  });

  it('aborts a request waiting for the head and closes its socket', async () => {
    const up = await rawServer(() => {});
    const p = pool(up.origin);
    const recorder = new Recorder();
    const done = send(p, {}, recorder);
    await until(() => up.requests.length === 1);
    recorder.controller.abort(new Error('deadline'));
    const r = await done;
    expect(r.events).toEqual(['start', 'error']);
    await up.closedAtLeast(1);
    expect(p.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
  });

  it('aborts mid-body and never calls another callback', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
      setTimeout(() => socket.write('defghij'), 30);
    });
    const p = pool(up.origin);
    const r = await send(p, {}, new Recorder({ data: (c) => c.abort(new Error('enough')) }));
    await up.closedAtLeast(1);
    expect(r.events).toEqual(['start', 'head', 'data', 'error']);
    expect(r.body).toBe('abc');
  });

  it('aborts a queued request without disturbing the others', async () => {
    const up = await rawServer((socket) => setTimeout(() => socket.write(OK), 10));
    const p = pool(up.origin, 1);
    const first = send(p);
    const queued = new Recorder();
    const second = send(p, {}, queued);
    const third = send(p);
    queued.controller.abort(new Error('gone'));
    expect((await second).events).toEqual(['start', 'error']);
    expect((await first).body).toBe('ok');
    expect((await third).body).toBe('ok');
    expect(up.requests).toHaveLength(2);
  });
});

describe('Http1Pool flow control', () => {
  it('stops reading the socket while paused and relays 20 MB through a slow consumer', async () => {
    const total = 20 * 1024 * 1024;
    const block = Buffer.alloc(64 * 1024, 'x');
    const expected = createHash('sha256');
    for (let i = 0; i < total / block.length; i++) expected.update(block);
    let written = 0;
    let blocked = false;
    const origin = await listen(
      createServer((_req, res) => {
        res.writeHead(200, { 'content-length': total });
        const pump = (): void => {
          blocked = false;
          while (written < total) {
            written += block.length;
            if (!res.write(block)) {
              blocked = true;
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      }),
    );
    const p = pool(origin);
    const hash = createHash('sha256');
    let received = 0;
    let paused = false;
    const recorder = new Recorder({
      data: (c, chunk) => {
        hash.update(chunk);
        received += chunk.length;
        if (!paused) {
          paused = true;
          c.pause();
        }
      },
    });
    recorder.chunks = { push: () => 0 } as unknown as Buffer[]; // keep nothing: the hash checks the bytes
    const done = send(p, {}, recorder);
    await until(() => paused && blocked);
    // Give the kernel time to fill the buffers: the server stays blocked while we are paused.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(recorder.controller.paused).toBe(true);
    const whilePaused = received;
    expect(whilePaused).toBeLessThan(total / 4);
    expect(written).toBeLessThan(total);
    // Now a slow consumer: pause after every chunk, resume a little later.
    const slow = (c: typeof recorder.controller): void => {
      c.pause();
      setImmediate(() => c.resume());
    };
    (recorder as unknown as { hooks: { data: unknown } }).hooks.data = (
      c: typeof recorder.controller,
      chunk: Buffer,
    ) => {
      hash.update(chunk);
      received += chunk.length;
      slow(c);
    };
    recorder.controller.resume();
    const r = await done;
    expect(r.events).toEqual(['start', 'head', 'data', 'end']);
    expect(received).toBe(total);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });
});

describe('Http1Pool request bodies', () => {
  async function echo() {
    const seen: { method: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];
    const origin = await listen(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({ method: req.method!, headers: req.headers, body: Buffer.concat(chunks) });
          res.end('stored');
        });
      }),
    );
    return { origin, seen };
  }

  it('sends a Buffer body with its content-length', async () => {
    const up = await echo();
    const p = pool(up.origin);
    const body = Buffer.from([0, 1, 2, 255, 13, 10]);
    expect((await send(p, { method: 'POST', body })).body).toBe('stored');
    expect(up.seen[0]?.body.equals(body)).toBe(true);
    expect(up.seen[0]?.headers['content-length']).toBe('6');
  });

  it('sends Buffer bodies of every byte value byte-exact, up to and past the one-write limit', async () => {
    const up = await echo();
    const p = pool(up.origin);
    // 16 KiB and less leave with the head as one latin1 string; more, as two corked writes.
    for (const size of [256, 16 * 1024, 16 * 1024 + 1]) {
      const body = Buffer.from(Array.from({ length: size }, (_, i) => i & 0xff));
      await send(p, { method: 'PUT', body });
      expect(up.seen.at(-1)?.body.equals(body), `${size} bytes`).toBe(true);
    }
  });

  it('sends a string body as UTF-8', async () => {
    const up = await echo();
    const p = pool(up.origin);
    await send(p, { method: 'PUT', body: 'grüße ✓' });
    expect(up.seen[0]?.body.toString()).toBe('grüße ✓');
    expect(up.seen[0]?.headers['content-length']).toBe(String(Buffer.byteLength('grüße ✓')));
  });

  it('streams a Readable raw when the caller gave its length', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    const body = trackedBody(['abc', Buffer.from('defg')]);
    await send(p, { method: 'POST', body, headers: { 'content-length': '7' } });
    expect(up.requests[0]?.body.toString()).toBe('abcdefg');
    expect(up.received[0]?.toString('latin1')).toMatch(/\r\ncontent-length: 7\r\n\r\nabcdefg$/);
  });

  it('streams a Readable chunked when no length was given', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    await send(p, { method: 'POST', body: trackedBody(['hello ', '', 'world']) });
    expect(up.received[0]?.toString('latin1')).toMatch(
      /\r\ntransfer-encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n$/,
    );
    expect((await send(p)).body).toBe('ok');
    expect(up.connections).toBe(1);
  });

  it('streams a large Readable with backpressure, byte for byte', async () => {
    const up = await echo();
    const p = pool(up.origin);
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.alloc(50_000, i));
    await send(p, { method: 'POST', body: Readable.from(parts) });
    expect(up.seen[0]?.body.equals(Buffer.concat(parts))).toBe(true);
  });

  it('fails when a Readable ends short of its content-length', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    const r = await send(p, {
      method: 'POST',
      body: trackedBody(['abc']),
      headers: { 'content-length': '5' },
    });
    expect(r.error?.code).toBe('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    await up.closedAtLeast(1);
  });

  it('fails with the body stream’s own error and drops the socket', async () => {
    const up = await rawServer(() => {});
    const p = pool(up.origin);
    const failure = new Error('client went away');
    let sent = false;
    const body = new Readable({
      read() {
        if (!sent) {
          sent = true;
          this.push('part');
        } else setTimeout(() => this.destroy(failure), 10);
      },
    });
    const r = await send(p, { method: 'POST', body });
    expect(r.error).toBe(failure);
    await up.closedAtLeast(1);
    expect(p.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
  });

  it('leaves a Readable body unread when the connection is refused', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const p = pool(`http://127.0.0.1:${port}`);
    const body = trackedBody(['never']);
    const r = await send(p, { method: 'POST', body });
    expect(r.error?.code).toBe('ECONNREFUSED');
    expect(body.pulled).toBe(false);
  });

  it('refuses an invalid header value before connecting', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    const r = await send(p, { headers: { 'x-evil': 'a\r\nx-injected: 1' } });
    expect(r.events).toEqual(['start', 'error']);
    expect(r.error?.code).toBe('UND_ERR_INVALID_ARG');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(up.connections).toBe(0);
  });
});

describe('Http1Pool close and destroy', () => {
  it('close() lets in-flight requests finish, refuses new ones and closes every socket', async () => {
    const up = await rawServer((socket, request) => {
      if (request.head.startsWith('GET /slow')) setTimeout(() => socket.write(OK), 30);
      else socket.write(OK);
    });
    const p = new Http1Pool(up.origin, { keepAliveTimeout: 4000 });
    await send(p, { path: '/fast' });
    const slow = send(p, { path: '/slow' });
    const closed = p.close();
    const late = await send(p);
    expect(late.error?.code).toBe('UND_ERR_CLOSED');
    expect((await slow).body).toBe('ok');
    await closed;
    expect(p.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
    await up.closedAtLeast(up.connections);
  });

  it('destroy() fails requests in flight and queued with the reason', async () => {
    const up = await rawServer(() => {});
    const p = new Http1Pool(up.origin, { keepAliveTimeout: 4000, connections: 1 });
    const first = send(p);
    const second = send(p);
    await until(() => up.requests.length === 1);
    const reason = new Error('shutting down');
    await p.destroy(reason);
    expect((await first).error).toBe(reason);
    expect((await second).error).toBe(reason);
    expect(p.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
    await up.closedAtLeast(1);
  });
});

describe('Http1Pool with the gateway exchange', () => {
  it('streams an UpstreamExchange response into a real ServerResponse', async () => {
    const payload = 'y'.repeat(300_000);
    const upstream = await listen(
      createServer((req, res) => {
        res.setHeader('x-path', req.url!);
        res.end(payload);
      }),
    );
    const p = pool(upstream);
    const front = await listen(
      createServer((req, res: ServerResponse) => {
        const exchange = new UpstreamExchange();
        p.dispatch({ method: 'GET', path: req.url!, headers: {}, body: null }, exchange);
        exchange.headersReceived!.then(
          (ex) => {
            res.writeHead(ex.statusCode, { 'x-path': String(ex.headers['x-path']) });
            ex.attach(res);
          },
          () => {
            res.statusCode = 502;
            res.end();
          },
        );
      }),
    );
    const answer = await new Promise<{ status: number; path: string; body: string }>((resolve, reject) => {
      get(`${front}/through/the/gateway`, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode!, path: String(res.headers['x-path']), body }));
      }).on('error', reject);
    });
    expect(answer).toEqual({ status: 200, path: '/through/the/gateway', body: payload });
  });
});
