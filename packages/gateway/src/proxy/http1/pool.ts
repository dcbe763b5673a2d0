import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Connection } from './connection.js';
import { Http1Error } from './errors.js';
import { CONNECTING, DONE, Http1Request, NEW, QUEUED } from './request.js';
import { buildRequestHead, type RequestBodyInput, type RequestHeaders } from './request-head.js';

/** Options of an {@link Http1Pool}. */
export interface Http1PoolOptions {
  /** Most sockets open at once; null or undefined for no limit. Dispatches beyond it queue FIFO. */
  connections?: number | null;
  /** Milliseconds an idle socket is kept; an upstream's `Keep-Alive: timeout=N` lowers it. */
  keepAliveTimeout: number;
  /** Largest response head (and trailer section) in bytes; default 16 KiB. */
  maxHeaderSize?: number;
  /** Milliseconds to wait for a connection; default 10 s. */
  connectTimeout?: number;
}

/** One request, as the gateway's dispatch options give it. */
export interface Http1DispatchOptions {
  path: string;
  method: string;
  headers?: RequestHeaders | null;
  body?: RequestBodyInput;
  /**
   * The caller vouches that every header name is a token and no value holds CR, LF or NUL (the
   * fast-path front's parser checked the client's, the gateway made the rest): the pool does not
   * check them again. Framing headers are still taken from the body.
   */
  headersChecked?: boolean;
}

/** Controls one dispatched request (undici's `DispatchController`, the parts the gateway uses). */
export interface Http1Controller {
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** Receives one request's response (the part of undici 7's `DispatchHandler` the gateway implements). */
export interface Http1Handler {
  onRequestStart?(controller: Http1Controller, context: unknown): void;
  onResponseStart?(
    controller: Http1Controller,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void;
  onResponseData?(controller: Http1Controller, chunk: Buffer): void;
  onResponseEnd?(controller: Http1Controller, trailers: IncomingHttpHeaders): void;
  /**
   * Not undici's: a read from the socket brought part of the response and did not end it (its
   * `onResponseStart`/`onResponseData` calls are over). A handler that holds back what it got
   * writes it now, once per read, instead of on a later tick.
   */
  onReadEnd?(controller: Http1Controller): void;
  onResponseError?(controller: Http1Controller, error: Error): void;
}

/** Counters for tests and metrics. */
export interface Http1PoolStats {
  /** Sockets connected (busy or free). */
  connected: number;
  /** Connected sockets waiting for a request. */
  free: number;
  /** Dispatches waiting for a socket. */
  pending: number;
  /** Dispatches given a socket (connecting or in flight). */
  running: number;
}

const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;
const DEFAULT_CONNECT_TIMEOUT = 10_000;
const REQUEST_CONTEXT = Object.freeze({});

/**
 * A keep-alive pool of HTTP/1.1 connections to one origin, dispatching with undici 7's handler
 * API (`onRequestStart` … `onResponseEnd`/`onResponseError`). One request per socket at a time
 * (no pipelining); free sockets are reused last-in first-out, so the least used ones time out.
 */
export class Http1Pool {
  /** `dispatch` calls the handler's `onRequestStart` before it returns (see `UpstreamPool`). */
  readonly startsAtOnce = true;
  /** Handlers hear `onReadEnd` after each read that did not end their response. */
  readonly endsReads = true;
  readonly keepAliveTimeout: number;
  /** Maintained by connections; read through `stats`. */
  connectedCount = 0;
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly maxConnections: number;
  private readonly maxHeaderSize: number;
  private readonly connectTimeout: number;
  private readonly free: Connection[] = [];
  private readonly connections = new Set<Connection>();
  private queue: Http1Request[] = [];
  private queueHead = 0;
  private pendingCount = 0;
  private runningCount = 0;
  private closing = false;
  private destroyed = false;
  private idleWaiters: (() => void)[] = [];
  private closeWaiters: (() => void)[] = [];

  constructor(origin: string, options: Http1PoolOptions) {
    const url = new URL(origin);
    if (url.protocol !== 'http:')
      throw new TypeError(`Http1Pool origin should be http://host:port, got ${origin}`);
    const connections = options.connections ?? null;
    if (connections !== null && !(Number.isInteger(connections) && connections > 0))
      throw new TypeError(`Http1Pool connections should be a positive integer or null, got ${connections}`);
    if (!(options.keepAliveTimeout > 0))
      throw new TypeError(`Http1Pool keepAliveTimeout should be positive, got ${options.keepAliveTimeout}`);
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port === '' ? 80 : Number(url.port);
    this.hostHeader = url.host;
    this.maxConnections = connections ?? Number.POSITIVE_INFINITY;
    this.keepAliveTimeout = options.keepAliveTimeout;
    this.maxHeaderSize = options.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE;
    this.connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
  }

  get stats(): Http1PoolStats {
    return {
      connected: this.connectedCount,
      free: this.free.length,
      pending: this.pendingCount,
      running: this.runningCount,
    };
  }

  /**
   * Sends a request; the handler hears about it through its callbacks (`onRequestStart` before
   * this returns). Returns false when the pool is closed (the handler got `onResponseError`).
   */
  dispatch(options: Http1DispatchOptions, handler: Http1Handler): boolean {
    const body = options.body;
    const request = new Http1Request(this, handler, options.method, body);
    let error: Error | null = null;
    try {
      const bodyLength =
        body === null || body === undefined
          ? -2
          : typeof body === 'string'
            ? Buffer.byteLength(body)
            : Buffer.isBuffer(body)
              ? body.length
              : body instanceof Readable
                ? -1
                : -3;
      if (bodyLength === -3) throw new Http1Error('UND_ERR_INVALID_ARG', 'unsupported request body type');
      request.head = buildRequestHead(
        request,
        options.method,
        options.path,
        options.headers,
        this.hostHeader,
        bodyLength,
        options.headersChecked === true,
      );
    } catch (thrown) {
      error = thrown as Error;
    }
    if (error === null && this.closing) {
      error = this.destroyed
        ? new Http1Error('UND_ERR_DESTROYED', 'the upstream pool was destroyed')
        : new Http1Error('UND_ERR_CLOSED', 'the upstream pool is closed');
    }
    handler.onRequestStart?.(request, REQUEST_CONTEXT);
    if (request.state === DONE) return !this.closing; // aborted from onRequestStart
    if (error !== null) {
      this.fail(request, error);
      return !this.closing;
    }
    request.state = QUEUED;
    this.pendingCount++;
    if (this.queueHead === this.queue.length) {
      // Nothing waits: the common case skips the queue.
      if (this.assign(request)) return true;
    }
    this.queue.push(request);
    return true;
  }

  /** Stops new dispatches; resolves once the dispatched ones finished and every socket closed. */
  close(): Promise<void> {
    this.closing = true;
    const done = new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
    });
    this.checkIdle();
    return done.then(() => this.closeSockets());
  }

  /** Stops everything now: requests in flight or queued get `onResponseError(reason)`. */
  destroy(reason?: Error): Promise<void> {
    this.closing = true;
    this.destroyed = true;
    const error = reason ?? new Http1Error('UND_ERR_DESTROYED', 'the upstream pool was destroyed');
    const queue = this.queue;
    for (let i = this.queueHead; i < queue.length; i++) {
      const request = queue[i]!;
      if (request.state !== DONE) this.fail(request, error);
    }
    this.queue = [];
    this.queueHead = 0;
    for (const conn of [...this.connections]) {
      const request = conn.request;
      if (request !== null && request.state !== DONE) this.fail(request, error);
    }
    return this.closeSockets();
  }

  /** Ends `request` with an error (at most once) and drops the connection it was on. */
  fail(request: Http1Request, error: Error): void {
    const state = request.state;
    if (state === DONE) return;
    request.state = DONE;
    if (state === QUEUED) this.pendingCount--;
    else if (state !== NEW) this.runningCount--;
    this.detachRequest(request);
    try {
      request.handler.onResponseError?.(request, error);
    } catch {
      // The handler's own failure has nowhere to go; the request is over either way.
    }
    this.checkIdle();
  }

  /** The response ended; `reusable` when the connection may carry another request. */
  complete(request: Http1Request, conn: Connection, trailers: IncomingHttpHeaders, reusable: boolean): void {
    request.state = DONE;
    this.runningCount--;
    if (reusable) {
      conn.request = null;
      request.conn = null;
      this.release(conn);
    } else {
      this.detachRequest(request);
    }
    try {
      request.handler.onResponseEnd?.(request, trailers);
    } catch {
      // As in fail(): the response is complete; a throwing handler cannot undo that.
    }
    this.checkIdle();
  }

  /** A connected socket is free: it takes the next queued request or joins the free list. */
  release(conn: Connection): void {
    if (conn.closed || this.closing) {
      if (this.closing && !conn.closed) conn.destroy();
      return;
    }
    const next = this.nextQueued();
    if (next !== null) {
      this.pendingCount--;
      this.runningCount++;
      conn.send(next);
      return;
    }
    conn.makeIdle();
    this.free.push(conn);
  }

  /** A socket closed: forget it and let a queued request open another. */
  closed(conn: Connection): void {
    this.connections.delete(conn);
    conn.uncount();
    if (conn.idle) {
      conn.idle = false;
      const index = this.free.lastIndexOf(conn);
      if (index !== -1) this.free.splice(index, 1);
    }
    if (this.connections.size === 0 && this.closeWaiters.length > 0) {
      const waiters = this.closeWaiters;
      this.closeWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (!this.closing) this.pump();
  }

  /** Gives `request` a socket now if one is free or may be opened; false to queue it. */
  private assign(request: Http1Request): boolean {
    const free = this.free;
    while (free.length > 0) {
      const conn = free.pop()!;
      // A socket the peer is closing (its 'end' not handled yet) is never written to.
      if (conn.closed || conn.socket.readyState !== 'open') {
        conn.idle = false; // off the free list already
        conn.destroy();
        continue;
      }
      // `send` takes it out of idle (and refs its socket again).
      this.pendingCount--;
      this.runningCount++;
      conn.send(request);
      return true;
    }
    if (this.connections.size >= this.maxConnections) return false;
    this.pendingCount--;
    this.runningCount++;
    request.state = CONNECTING;
    const conn = new Connection(this, request, this.host, this.port, this.connectTimeout, this.maxHeaderSize);
    request.conn = conn;
    this.connections.add(conn);
    return true;
  }

  private pump(): void {
    for (;;) {
      const request = this.peekQueued();
      if (request === null || !this.assign(request)) return;
      this.queueHead++;
      this.compactQueue();
    }
  }

  private nextQueued(): Http1Request | null {
    const request = this.peekQueued();
    if (request !== null) {
      this.queueHead++;
      this.compactQueue();
    }
    return request;
  }

  /** The first queued request still waiting (aborted ones are skipped). */
  private peekQueued(): Http1Request | null {
    const queue = this.queue;
    while (this.queueHead < queue.length) {
      const request = queue[this.queueHead]!;
      if (request.state === QUEUED) return request;
      this.queueHead++;
    }
    this.compactQueue();
    return null;
  }

  private compactQueue(): void {
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Unhooks a finished request from its connection, which cannot be reused. */
  private detachRequest(request: Http1Request): void {
    const writer = request.writer;
    if (writer !== null) {
      request.writer = null;
      writer.detach();
    }
    const conn = request.conn;
    request.conn = null;
    if (conn !== null) {
      if (conn.request === request) conn.request = null;
      if (!conn.closed) conn.destroy();
    }
  }

  private checkIdle(): void {
    if (!this.closing || this.runningCount > 0 || this.pendingCount > 0 || this.idleWaiters.length === 0)
      return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private closeSockets(): Promise<void> {
    for (const conn of [...this.connections]) if (!conn.socket.destroyed) conn.destroy();
    this.free.length = 0;
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.closeWaiters.push(resolve);
    });
  }
}
