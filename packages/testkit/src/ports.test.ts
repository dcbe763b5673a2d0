import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts, isPortFree } from './ports.js';

describe('ports', () => {
  it('finds a port that a server can listen on, and sees it taken once one does', async () => {
    const port = await freePort();
    expect(await isPortFree(port)).toBe(true);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      expect(await isPortFree(port)).toBe(false);
    } finally {
      server.close();
    }
  });

  it('hands out distinct ports when asked for several', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
  });
});
