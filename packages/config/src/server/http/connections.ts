import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Tracks sockets and their requests in flight, so a shutdown can close the connections that
 * carry no request. Node's own `closeIdleConnections` skips sockets that never sent a request
 * (HTTP clients open spare ones), and the server would then wait for the client to give up.
 */
export class ConnectionTracker {
  private readonly active = new Map<Socket, number>();

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.active.set(socket, 0);
      socket.once('close', () => this.active.delete(socket));
    });
    server.on('request', (req, res) => {
      const socket = req.socket;
      this.active.set(socket, (this.active.get(socket) ?? 0) + 1);
      res.once('close', () => {
        const left = (this.active.get(socket) ?? 1) - 1;
        if (this.active.has(socket)) this.active.set(socket, left);
      });
    });
  }

  /** Until `closing` settles, ends every connection that has no request in flight. */
  async drain(closing: Promise<unknown>): Promise<void> {
    const sweep = () => {
      for (const [socket, requests] of this.active) if (requests <= 0) socket.destroy();
    };
    sweep();
    const timer = setInterval(sweep, 50);
    try {
      await closing;
    } finally {
      clearInterval(timer);
    }
  }
}
