import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { startTestGateway } from './fixtures/gateway.js';
import { startUpstream, type TestUpstream } from './fixtures/upstream.js';
import type { RunningGateway } from './start.js';

let sse: TestUpstream;
let wsUpstream: TestUpstream;
let gw: RunningGateway;
let releaseSecondEvent: () => void = () => {};
let upstreamClosed: Promise<void> = Promise.resolve();

beforeAll(async () => {
  sse = await startUpstream((req, res) => {
    if (req.url === '/forever') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: tick\n\n');
      upstreamClosed = new Promise((resolve) => res.on('close', () => resolve()));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('id: 1\ndata: first\n\n');
    // The second event is held until the client saw the first: proof that nothing is buffered.
    releaseSecondEvent = () => res.end('id: 2\ndata: second\n\n');
  });
  wsUpstream = await startUpstream((_req, res) => res.end('plain http'));
  const wss = new WebSocketServer({ server: wsUpstream.server });
  wss.on('connection', (socket, req) => {
    socket.send(`hello ${req.headers['x-forwarded-for'] ? 'via gateway' : 'direct'} at ${req.url}`);
    socket.on('message', (data) => socket.send(`echo ${data.toString()}`));
  });
  gw = await startTestGateway({
    routes: [
      { id: 'events', match: { path: '/events' }, target: { url: sse.url } },
      { id: 'forever', match: { path: '/forever' }, target: { url: sse.url } },
      {
        id: 'ws',
        match: { path: '/ws/*' },
        target: { url: wsUpstream.url },
        rewrite: { stripPrefix: '/ws' },
      },
    ],
  });
});

afterAll(async () => {
  await gw?.close(100);
  await Promise.all([sse?.close(), wsUpstream?.close()]);
});

describe('streams pass through', () => {
  it('server-sent events arrive one by one, unbuffered', async () => {
    const response = await fetch(`${gw.url}/events`);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('id: 1\ndata: first\n\n');
    releaseSecondEvent();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe('id: 2\ndata: second\n\n');
  });

  it('a client that leaves mid-stream frees the upstream request', async () => {
    const controller = new AbortController();
    const response = await fetch(`${gw.url}/forever`, { signal: controller.signal });
    await response.body!.getReader().read();
    controller.abort();
    await upstreamClosed; // resolves only when the upstream saw its response closed
  });

  it('a WebSocket is tunnelled both ways, on the rewritten path', async () => {
    const client = new WebSocket(`${gw.url.replace('http', 'ws')}/ws/chat`);
    const messages: string[] = [];
    client.on('message', (data) => messages.push(data.toString()));
    await once(client, 'open');
    client.send('ping');
    await new Promise<void>((resolve) => {
      const check = () => (messages.length >= 2 ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(messages).toEqual(['hello via gateway at /chat', 'echo ping']);
    client.close();
    await once(client, 'close');
  });

  it('a WebSocket to no route gets a 404', async () => {
    const client = new WebSocket(`${gw.url.replace('http', 'ws')}/nowhere`);
    client.on('error', () => {}); // closing a refused handshake reports an error; expected here
    const [, response] = (await once(client, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(404);
    client.terminate();
  });
});
