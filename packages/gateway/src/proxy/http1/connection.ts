import type { IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { BodyWriter } from './body-writer.js';
import { connectionReset, Http1Error } from './errors.js';
import type { Http1Pool } from './pool.js';
import { type Http1Request, SENT } from './request.js';
import { ResponseParser, type ResponseSink } from './response-parser.js';

/**
 * The one read buffer of every upstream socket (net's `onread`): reads are handled one at a time,
 * so one buffer serves them all and no read allocates its own. Nothing may keep a view of it past
 * the read: the response parser copies a partial head, and `onBody` copies each body chunk.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** Largest Buffer body written with its head as one string. */
const ONE_WRITE_LIMIT = 16 * 1024;
/** One socket to the upstream, with its listeners attached once for its whole life. */
export class Connection implements ResponseSink {
  readonly socket: Socket;
  readonly parser: ResponseParser;
  request: Http1Request | null;
  connected = false;
  /** Destroyed, or the peer ended it: never written to again. */
  closed = false;
  /** In the pool's free list. */
  idle = false;
  error: Error | null = null;
  keepAliveMs: number;
  private idleTimer: NodeJS.Timeout | null = null;
  /**
   * When the connection last became idle (`performance.now()`: a monotonic clock, as the timers
   * are; with the wall clock set back, an idle socket would outlive the upstream's keep-alive).
   */
  private idleSince = 0;
  private connectTimer: NodeJS.Timeout | null;

  constructor(
    private readonly pool: Http1Pool,
    request: Http1Request,
    host: string,
    port: number,
    connectTimeout: number,
    maxHeaderSize: number,
  ) {
    this.request = request;
    this.keepAliveMs = pool.keepAliveTimeout;
    this.parser = new ResponseParser(this, maxHeaderSize);
    const socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: this.onRead },
    });
    this.socket = socket;
    socket.on('connect', this.onConnect);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.on('drain', this.onDrain);
    this.connectTimer = setTimeout(this.onConnectTimeout, connectTimeout);
    this.connectTimer.unref();
  }

  /** Sends `request` (the socket is connected and nothing else is in flight on it). */
  send(request: Http1Request): void {
    this.request = request;
    request.conn = this;
    request.state = SENT;
    const socket = this.socket;
    if (this.idle) {
      this.idle = false;
      socket.ref();
    }
    this.parser.reset(request.method === 'HEAD');
    if (request.paused) socket.pause();
    else if (socket.isPaused()) socket.resume();
    const body = request.body;
    if (body === null || body === undefined) {
      request.bodySent = true;
      socket.write(request.head, 'latin1');
    } else if (Buffer.isBuffer(body) && body.length <= ONE_WRITE_LIMIT) {
      // A small body leaves with its head in one write, as one latin1 string (which keeps every
      // byte as it is), not as two writes corked into a writev.
      request.bodySent = true;
      socket.write(request.head + body.toString('latin1'), 'latin1');
    } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
      request.bodySent = true;
      socket.cork();
      socket.write(request.head, 'latin1');
      socket.write(body);
      socket.uncork();
    } else if (body.destroyed || body.readableEnded) {
      // Its 'end' or 'error' was emitted already and would never reach the writer.
      this.pool.fail(
        request,
        body.errored ?? new Http1Error('UND_ERR_INVALID_ARG', 'the request body was consumed'),
      );
    } else {
      socket.write(request.head, 'latin1');
      request.writer = new BodyWriter(request, this, body);
    }
  }

  /**
   * Makes the connection free: reading (to notice the peer closing it) and unref'd. Its idle
   * timer is not moved per request: it notes when the connection went idle, and the timer, when
   * it fires, closes it or waits for what is left (a timer refreshed on every request cost more
   * than the request's upstream head).
   */
  makeIdle(): void {
    this.idle = true;
    this.idleSince = performance.now();
    const socket = this.socket;
    if (socket.isPaused()) socket.resume();
    socket.unref();
    if (this.idleTimer === null) this.armIdleTimer(this.keepAliveMs);
  }

  private armIdleTimer(ms: number): void {
    this.idleTimer = setTimeout(this.onIdleTimeout, ms);
    this.idleTimer.unref();
  }

  /** Lowers the idle time to the upstream's hint; false when the hint leaves no time at all. */
  applyKeepAliveHint(hintMs: number): boolean {
    const ms = Math.min(this.pool.keepAliveTimeout, hintMs - 1000);
    if (ms <= 0) return false;
    if (ms !== this.keepAliveMs) {
      this.keepAliveMs = ms;
      if (this.idleTimer !== null) clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    return true;
  }

  /** Destroys the socket; `error`, if given, is reported as the socket's own error. */
  destroy(error?: Error): void {
    this.closed = true;
    this.uncount();
    this.socket.destroy(error);
  }

  /** Stops counting the socket as connected (once), when it is destroyed or closes. */
  uncount(): void {
    if (this.connected) {
      this.connected = false;
      this.pool.connectedCount--;
    }
  }

  /** Stops timers once the socket is gone. */
  dispose(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.idleTimer = null;
    this.connectTimer = null;
  }

  onHead(statusCode: number, statusMessage: string, headers: IncomingHttpHeaders): boolean {
    const request = this.request!;
    request.handler.onResponseStart?.(request, statusCode, headers, statusMessage);
    return request.state === SENT;
  }

  onBody(chunk: Buffer): boolean {
    const request = this.request!;
    // A copy: the chunk is a view of READ_BUFFER, and handlers keep chunks (queued writes, a cache copy).
    request.handler.onResponseData?.(request, Buffer.from(chunk));
    return request.state === SENT;
  }

  private readonly onConnect = (): void => {
    if (this.closed) return;
    this.connected = true;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.pool.connectedCount++;
    const request = this.request;
    this.request = null;
    if (request !== null) this.send(request);
    else this.pool.release(this);
  };

  private readonly onRead = (nread: number, buffer: Buffer): boolean => {
    this.onData(buffer.subarray(0, nread));
    return true;
  };

  private readonly onData = (chunk: Buffer): void => {
    const request = this.request;
    if (request === null) {
      // Bytes nobody asked for (or past the response): the stream is out of step; drop it.
      this.destroy();
      return;
    }
    const parser = this.parser;
    let offset: number;
    try {
      offset = parser.execute(chunk);
    } catch (error) {
      // A handler threw: it cannot take more of this response.
      this.pool.fail(request, error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (request.state !== SENT) return; // aborted from a handler callback
    if (offset === -1) {
      this.pool.fail(request, parser.error!);
      return;
    }
    if (!parser.finished) {
      try {
        request.handler.onReadEnd?.(request);
      } catch (error) {
        this.pool.fail(request, error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    // Reused only when nothing is left over: not a byte past the response, none of the request.
    let reusable = parser.keepAlive && offset === chunk.length && request.bodySent && !request.closeRequested;
    if (reusable && parser.keepAliveHint !== -1) reusable = this.applyKeepAliveHint(parser.keepAliveHint);
    this.pool.complete(request, this, parser.trailers, reusable);
  };

  private readonly onEnd = (): void => {
    // The peer half-closed. A close-delimited body ends here; anything else in flight is cut.
    this.closed = true;
    const request = this.request;
    if (request !== null && request.state === SENT && this.parser.finish()) {
      this.pool.complete(request, this, this.parser.trailers, false);
    }
    this.destroy();
  };

  private readonly onError = (error: Error): void => {
    this.error ??= error;
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.dispose();
    // A request bound to it (connecting or sent) fails with the socket's own error when it had one
    // (ECONNREFUSED, ECONNRESET, a connect timeout), else as a reset.
    const request = this.request;
    this.request = null;
    if (request !== null) this.pool.fail(request, this.error ?? connectionReset());
    this.pool.closed(this);
  };

  private readonly onDrain = (): void => {
    this.request?.writer?.drained();
  };

  private readonly onIdleTimeout = (): void => {
    this.idleTimer = null;
    if (!this.idle) return; // busy: the next makeIdle arms it again
    const left = this.idleSince + this.keepAliveMs - performance.now();
    if (left > 0) this.armIdleTimer(left);
    else this.destroy();
  };

  private readonly onConnectTimeout = (): void => {
    this.connectTimer = null;
    if (!this.connected) {
      this.destroy(new Http1Error('UND_ERR_CONNECT_TIMEOUT', 'timed out connecting to the upstream'));
    }
  };
}
