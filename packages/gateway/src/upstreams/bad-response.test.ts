import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway } from '../fixtures/gateway.js';
import type { RunningGateway } from '../start.js';

// An upstream that answers every request with the bytes its path names.
const ANSWERS: Record<string, string> = {
  '/bad-status': 'HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n',
  '/both-framings': 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
  '/bad-header': 'HTTP/1.1 200 OK\r\nno colon here\r\ncontent-length: 0\r\n\r\n',
  '/cut-head': 'HTTP/1.1 200 OK\r\ncontent-le',
};

let upstream: Server;
let gw: RunningGateway;

beforeAll(async () => {
  upstream = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (data) => {
      const path = data.toString('latin1').split(' ')[1] ?? '';
      socket.end(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as { port: number }).port;
  gw = await startTestGateway({
    routes: [{ id: 'raw', match: { path: '/*' }, target: { url: `http://127.0.0.1:${port}` } }],
  });
});

afterAll(async () => {
  await gw?.close();
  await new Promise((resolve) => upstream?.close(resolve));
});

describe('an upstream that breaks HTTP', () => {
  for (const path of Object.keys(ANSWERS)) {
    it(`answers 502 problem+json for ${path}`, async () => {
      const response = await fetch(`${gw.url}${path}`);
      expect(response.status).toBe(502);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(((await response.json()) as { code: string }).code).toBe('BAD_GATEWAY');
    });
  }
});
