import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OK, RawServer, Recorder, send, until } from './fixtures/servers.js';
import { Http1Pool, type Http1PoolOptions } from './pool.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A node:http upstream that counts its connections and the closed ones. */
async function httpServer(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handle);
  const state = { server, connections: 0, closed: 0, origin: '' };
  server.on('connection', (socket) => {
    state.connections++;
    socket.on('close', () => state.closed++);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

async function rawServer(respond: ConstructorParameters<typeof RawServer>[0]): Promise<RawServer> {
  const raw = await RawServer.start(respond);
  cleanups.push(() => raw.stop());
  return raw;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function pool(origin: string, options: Partial<Http1PoolOptions> = {}): Http1Pool {
  const p = new Http1Pool(origin, { keepAliveTimeout: 4000, ...options });
  cleanups.push(() => p.destroy());
  return p;
}

describe('Http1Pool keep-alive', () => {
  it('serves many sequential requests over one upstream connection', async () => {
    const up = await httpServer((req, res) => res.end(`you asked ${req.url}`));
    const p = pool(up.origin);
    for (let i = 0; i < 20; i++) {
      const r = await send(p, { path: `/n/${i}` });
      expect(r.events).toEqual(['start', 'head', 'data', 'end']);
      expect(r.statusCode).toBe(200);
      expect(r.body).toBe(`you asked /n/${i}`);
    }
    expect(up.connections).toBe(1);
    expect(p.stats).toEqual({ connected: 1, free: 1, pending: 0, running: 0 });
  });

  it('opens parallel sockets for parallel requests', async () => {
    const waiting: ServerResponse[] = [];
    const up = await httpServer((_req, res) => {
      waiting.push(res);
      if (waiting.length === 3) for (const r of waiting) r.end('done');
    });
    const p = pool(up.origin);
    const results = await Promise.all([send(p), send(p), send(p)]);
    expect(results.map((r) => r.body)).toEqual(['done', 'done', 'done']);
    expect(up.connections).toBe(3);
    expect(p.stats.free).toBe(3);
  });

  it('queues dispatches beyond the connection limit, first in first out', async () => {
    const up = await httpServer((req, res) => res.end(req.url));
    const p = pool(up.origin, { connections: 1 });
    const all = [send(p, { path: '/1' }), send(p, { path: '/2' }), send(p, { path: '/3' })];
    expect(p.stats).toMatchObject({ pending: 2, running: 1 });
    const order: string[] = [];
    for (const r of all) r.then((x) => order.push(x.body));
    await Promise.all(all);
    expect(order).toEqual(['/1', '/2', '/3']);
    expect(up.connections).toBe(1);
    expect(p.stats).toMatchObject({ pending: 0, running: 0 });
  });

  it.each([
    ['connection: close', 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok'],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'],
    ['Keep-Alive: timeout=1', 'HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 2\r\n\r\nok'],
  ])('does not reuse a connection after %s', async (_name, response) => {
    const up = await rawServer((socket) => socket.write(response));
    const p = pool(up.origin);
    expect((await send(p)).body).toBe('ok');
    expect((await send(p)).body).toBe('ok');
    expect(up.connections).toBe(2);
    await up.closedAtLeast(2);
    expect(p.stats.free).toBe(0);
  });

  it('reuses an HTTP/1.0 connection that said keep-alive', async () => {
    const up = await rawServer((socket) =>
      socket.write('HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nok'),
    );
    const p = pool(up.origin);
    await send(p);
    await send(p);
    expect(up.connections).toBe(1);
  });

  it('does not reuse a connection the request asked to close', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    await send(p, { headers: { Connection: 'close' } });
    await send(p);
    expect(up.connections).toBe(2);
  });

  it('closes a free socket after the idle timeout', async () => {
    const up = await httpServer((_req, res) => res.end('x'));
    const p = pool(up.origin, { keepAliveTimeout: 50 });
    await send(p);
    expect(p.stats.free).toBe(1);
    await until(() => up.closed === 1);
    expect(p.stats).toMatchObject({ connected: 0, free: 0 });
    await send(p);
    expect(up.connections).toBe(2);
  });

  it('times the idle period from the socket’s last request, not its first', async () => {
    const up = await httpServer((_req, res) => res.end('x'));
    const p = pool(up.origin, { keepAliveTimeout: 1500 });
    await send(p);
    await sleep(900);
    await send(p);
    const freeAgain = Date.now();
    // 1.8 s after the first request (timed from it, the socket closed at 1.5 s), 0.9 s after the
    // second: still open.
    await sleep(900);
    expect(up.closed).toBe(0);
    expect(p.stats.free).toBe(1);
    await until(() => up.closed === 1);
    // About 1.5 s after the second request.
    expect(Date.now() - freeAgain).toBeGreaterThanOrEqual(1400);
    expect(up.connections).toBe(1);
  }, 10_000);

  it('times a socket that was busy when its idle timer ran out from when it was free again', async () => {
    const up = await httpServer((req, res) => {
      if (req.url === '/long') setTimeout(() => res.end('late'), 1500);
      else res.end('x');
    });
    const p = pool(up.origin, { keepAliveTimeout: 1000 });
    await send(p);
    // Busy from 0.1 s to 1.6 s: the timer armed after the first request runs out meanwhile.
    await sleep(100);
    await send(p, { path: '/long' });
    const freeAgain = Date.now();
    await sleep(500);
    expect(up.closed).toBe(0);
    expect(p.stats.free).toBe(1);
    await until(() => up.closed === 1);
    // About 1 s after it was free again (timed from the first request, at once).
    expect(Date.now() - freeAgain).toBeGreaterThanOrEqual(900);
    expect(up.connections).toBe(1);
  }, 10_000);

  it('closes an idle socket on time though the wall clock was set back', async () => {
    const up = await httpServer((_req, res) => res.end('x'));
    const p = pool(up.origin, { keepAliveTimeout: 200 });
    await send(p);
    expect(p.stats.free).toBe(1);
    const now = Date.now.bind(Date);
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => now() - 10_000);
    let waiting = true;
    try {
      await Promise.race([until(() => !waiting || up.closed === 1), sleep(3000)]);
    } finally {
      waiting = false;
      clock.mockRestore();
    }
    expect(up.closed).toBe(1);
  });

  it('tells the handler when a read ended short of the response’s end', async () => {
    let upstream: Socket | undefined;
    const pieces = ['c', 'd'];
    const up = await rawServer((socket) => {
      upstream = socket;
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab');
    });
    // The next piece is written once the pool said the last read ended: one read each.
    class ReadEnds extends Recorder {
      onReadEnd(): void {
        this.events.push('read-end');
        upstream!.write(pieces.shift()!);
      }
    }
    const r = await send(pool(up.origin), {}, new ReadEnds());
    expect(r.events).toEqual(['start', 'head', 'data', 'read-end', 'data', 'read-end', 'data', 'end']);
    expect(r.body).toBe('abcd');
    expect(pieces).toEqual([]);
  });

  it('keeps the process alive while a reused socket waits for its answer', async () => {
    // Free sockets are unref'd; one taken again must be ref'd, or a script whose only handle is
    // the request ends before the answer.
    let served = 0;
    const up = await httpServer((_req, res) => {
      if (++served === 1) res.end('x');
      else setTimeout(() => res.end('y'), 300);
    });
    const pool = new URL('../../../dist/proxy/http1/pool.js', import.meta.url).href;
    const script = `
      const { Http1Pool } = await import(${JSON.stringify(pool)});
      const p = new Http1Pool(${JSON.stringify(up.origin)}, { keepAliveTimeout: 4000 });
      const get = () => new Promise((resolve, reject) => p.dispatch(
        { method: 'GET', path: '/', headers: {}, body: null },
        { onResponseEnd: () => resolve('answered'), onResponseError: (_c, e) => reject(e) },
      ));
      console.log(await get());
      console.log(await get());
      await p.destroy();
    `;
    // Not spawnSync: the upstream answers from this process's event loop.
    const child = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]).catch(
      (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
    );
    expect(child.stdout.trim().split('\n')).toEqual(['answered', 'answered']);
    expect(up.connections).toBe(1);
  });

  it('drops a free socket the upstream closed and uses a new one', async () => {
    const up = await rawServer((socket) => socket.write(OK));
    const p = pool(up.origin);
    await send(p);
    for (const socket of up.sockets) socket.end();
    await until(() => p.stats.connected === 0);
    expect((await send(p)).body).toBe('ok');
    expect(up.connections).toBe(2);
  });

  it('drops a socket that sends bytes past the response', async () => {
    const up = await rawServer((socket) => socket.write(`${OK}HTTP/1.1 200 OK\r\n`));
    const p = pool(up.origin);
    expect((await send(p)).body).toBe('ok');
    expect(p.stats.free).toBe(0);
    expect((await send(p)).body).toBe('ok');
    expect(up.connections).toBe(2);
  });
});

describe('Http1Pool responses', () => {
  it('relays a chunked body with extensions and trailers', async () => {
    const up = await rawServer((socket) => {
      socket.write(
        'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n4;a=b\r\nwiki\r\n',
      );
      setTimeout(() => socket.write('5\r\npedia\r\n0\r\nx-sum: 9\r\n\r\n'), 10);
    });
    const p = pool(up.origin);
    const r = await send(p);
    expect(r.body).toBe('wikipedia');
    expect(r.trailers).toEqual({ 'x-sum': '9' });
    await send(p);
    expect(up.connections).toBe(1);
  });

  // Every upstream socket reads into one shared buffer: each read below lands at its start and
  // overwrites the one before, so a kept view instead of a copy would corrupt the answer.
  it('reads a head that arrives in pieces, each read overwriting the last', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-le');
      setTimeout(() => socket.write('ngth: 2\r\nx-part: one\r\n'), 10);
      setTimeout(() => socket.write('x-more: two\r\n\r\nok'), 20);
    });
    const r = await send(pool(up.origin));
    expect(r.statusCode).toBe(200);
    expect(r.headers).toMatchObject({ 'content-length': '2', 'x-part': 'one', 'x-more': 'two' });
    expect(r.body).toBe('ok');
  });

  it('keeps each body chunk as it was read, though the next read reuses the buffer', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n');
      setTimeout(() => socket.write('aaaa'), 10);
      setTimeout(() => socket.write('bbbb'), 20);
      setTimeout(() => socket.write('cccc'), 30);
    });
    const r = await send(pool(up.origin));
    expect(r.body).toBe('aaaabbbbcccc');
  });

  it('reads a body without length until the upstream closes, and does not reuse the socket', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ');
      setTimeout(() => socket.end('the end'), 10);
    });
    const p = pool(up.origin);
    const r = await send(p);
    expect(r.events).toEqual(['start', 'head', 'data', 'end']);
    expect(r.body).toBe('until the end');
    await send(p);
    expect(up.connections).toBe(2);
  });

  it.each([
    ['HEAD', 'HEAD', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n'],
    ['204', 'GET', 'HTTP/1.1 204 No Content\r\ncontent-length: 5\r\n\r\n'],
    ['304', 'GET', 'HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n'],
  ])('ends a %s response at its head although it announces a length', async (_name, method, response) => {
    const up = await rawServer((socket) => socket.write(response));
    const p = pool(up.origin);
    const first = await send(p, { method });
    expect(first.events).toEqual(['start', 'head', 'end']);
    expect(first.headers['content-length']).toBe('5');
    const second = await send(p, { method });
    expect(second.events).toEqual(['start', 'head', 'end']);
    expect(up.connections).toBe(1);
  });

  it('skips 100 Continue and delivers the final response', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      setTimeout(() => socket.write(OK), 10);
    });
    const p = pool(up.origin);
    const r = await send(p, { method: 'POST', body: 'x', headers: { expect: '100-continue' } });
    expect(r.statusCode).toBe(200);
    expect(r.events).toEqual(['start', 'head', 'data', 'end']);
  });

  it.each([
    ['a bad status line', 'HTTP/1.1 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['a bad header', 'HTTP/1.1 200 OK\r\nx y: z\r\n\r\n', 'HPE_INVALID_HEADER'],
    [
      'CL and TE',
      'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n',
      'HPE_UNEXPECTED_CONTENT_LENGTH',
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nxyz\r\n', 'HPE_INVALID_CHUNK'],
    ['a huge head', `HTTP/1.1 200 OK\r\nbig: ${'b'.repeat(17_000)}\r\n\r\n`, 'UND_ERR_HEADERS_OVERFLOW'],
    ['a 101', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', 'HPE_UNEXPECTED_UPGRADE'],
  ])('fails on %s and drops the connection', async (_name, response, code) => {
    let n = 0;
    const up = await rawServer((socket) => socket.write(n++ === 0 ? response : OK));
    const p = pool(up.origin);
    const r = await send(p);
    expect(r.error?.code).toBe(code);
    expect(r.events.filter((e) => e === 'end' || e === 'error')).toEqual(['error']);
    await up.closedAtLeast(1);
    expect((await send(p)).body).toBe('ok');
    expect(up.connections).toBe(2);
  });

  it('fails with ECONNRESET after the head when the upstream closes mid-body', async () => {
    const up = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => socket.destroy(), 10);
    });
    const p = pool(up.origin);
    const r = await send(p);
    expect(r.events).toEqual(['start', 'head', 'data', 'error']);
    expect(r.error?.code).toBe('ECONNRESET');
    expect(p.stats).toMatchObject({ connected: 0, running: 0 });
  });

  it('fails with ECONNREFUSED when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const p = pool(`http://127.0.0.1:${port}`);
    const r = await send(p);
    expect(r.events).toEqual(['start', 'error']);
    expect(r.error?.code).toBe('ECONNREFUSED');
    expect(p.stats).toEqual({ connected: 0, free: 0, pending: 0, running: 0 });
  });

  it('reaches an IPv6 origin and sends its host header', async () => {
    const server = createServer((req, res) => res.end(req.headers.host));
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(0, '::1', () => resolve(true));
    });
    if (!listening) return; // no IPv6 loopback on this machine
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const p = pool(`http://[::1]:${port}`);
    expect((await send(p)).body).toBe(`[::1]:${port}`);
  });
});
