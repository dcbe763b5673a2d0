import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { UpstreamPool } from '../upstreams/upstreams.js';
import type { Http1Controller, Http1DispatchOptions, Http1Handler } from './http1/pool.js';

/** Receives a copy of a relayed body when it ended whole and within `limit` bytes (the response cache). */
export interface BodyTap {
  readonly limit: number;
  done(body: Buffer): void;
}

/** Receives an exchange's head or its failure before the head, instead of a promise. */
export interface HeadListener {
  onHead(exchange: UpstreamExchange): void;
  onFailure(error: Error): void;
}

function notifyHead(listener: HeadListener, exchange: UpstreamExchange): void {
  listener.onHead(exchange);
}

function notifyFailure(listener: HeadListener, error: Error): void {
  listener.onFailure(error);
}

/** Bytes of response body held while nobody is attached yet, before reading pauses. */
export const PENDING_LIMIT = 64 * 1024;

/**
 * One request to one upstream, on the pool's dispatch API (no intermediate response stream: body
 * chunks go straight to the client's `ServerResponse`, with backpressure through pause/resume).
 * `headers` resolves when the upstream's status and headers arrive; the body is held (up to 64
 * KiB, then reading pauses) until `attach()` names where it goes, so the caller can first decide
 * (retry, breaker, fallback) what to answer.
 */
export class UpstreamExchange implements Http1Handler {
  statusCode = 0;
  headers: IncomingHttpHeaders = {};
  /** Settles with the response head (absent when the exchange reports to a {@link HeadListener}). */
  readonly headersReceived: Promise<UpstreamExchange> | undefined;
  private resolve!: (value: UpstreamExchange) => void;
  private reject!: (error: Error) => void;
  private controller: Http1Controller | undefined;
  private res: ServerResponse | undefined;
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private ended = false;
  private failed: Error | undefined;
  private started = false;
  private abortReason: Error | undefined;
  private tap: BodyTap | undefined;
  private tapped: Buffer[] | undefined;
  private tappedBytes = 0;
  private sink:
    | { resolve: (body: Buffer) => void; reject: (error: Error) => void; limit: number }
    | undefined;

  /**
   * Without a listener, `headersReceived` settles with the head or the failure before it. With
   * one (the plain route's path), the listener is called instead and no promise is made.
   */
  constructor(private readonly listener?: HeadListener) {
    this.headersReceived = listener
      ? undefined
      : new Promise((resolve, reject) => {
          this.resolve = resolve;
          this.reject = reject;
        });
  }

  /** Sends the request through `pool`; resolves with the head (exchanges made without a listener). */
  dispatch(pool: UpstreamPool, options: Http1DispatchOptions): Promise<UpstreamExchange> {
    pool.dispatch(options, this);
    return this.headersReceived!;
  }

  /** Stops the exchange: before headers the promise rejects with `reason`; after, the body stops. */
  abort(reason: Error): void {
    if (this.controller) this.controller.abort(reason);
    else this.abortReason = reason;
  }

  /**
   * Streams the (rest of the) body into `res`, which the caller has already given its head;
   * `tap` gets a copy of the whole body once it ended (nothing when it grew past the tap's limit).
   */
  attach(res: ServerResponse, tap?: BodyTap): void {
    this.res = res;
    const pending = this.pending;
    this.pending = undefined;
    if (tap) {
      this.tap = tap;
      this.tapped = [];
      if (pending) for (const chunk of pending) this.record(chunk);
      if (this.ended && !this.failed) this.finishTap();
    }
    if (this.ended && !this.failed) {
      // The whole body is here already (the common small response): head and body leave in
      // one write, and there is no upstream request left to free.
      if (pending?.length === 1) res.end(pending[0]);
      else {
        if (pending) for (const chunk of pending) res.write(chunk);
        res.end();
      }
      return;
    }
    res.on('close', () => {
      // A client that goes away mid-stream frees the upstream request.
      if (!this.ended && !res.writableFinished)
        this.controller?.abort(new Error('client closed the connection'));
    });
    if (pending) for (const chunk of pending) res.write(chunk);
    if (this.failed) res.destroy(this.failed);
    else if (this.controller?.paused) this.resumeWhenDrained(res);
  }

  /** Reads the whole body into memory (composite legs); rejects past `limit` bytes. */
  collect(limit: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const pending = this.pending ?? [];
      this.pending = undefined;
      const bytes = pending.reduce((n, c) => n + c.length, 0);
      if (this.failed) reject(this.failed);
      else if (bytes > limit) this.overflow(reject, limit);
      else if (this.ended) resolve(Buffer.concat(pending));
      else {
        this.pending = pending;
        this.pendingBytes = bytes;
        this.sink = { resolve, reject, limit };
        this.controller?.resume();
      }
    });
  }

  private overflow(reject: (error: Error) => void, limit: number): void {
    const error = new Error(`the response body is larger than ${limit} bytes`);
    this.controller?.abort(error);
    reject(error);
  }

  private record(chunk: Buffer): void {
    const tap = this.tap;
    if (!tap || !this.tapped) return;
    this.tappedBytes += chunk.length;
    if (this.tappedBytes > tap.limit)
      this.tapped = undefined; // too big to keep: stream only
    else this.tapped.push(chunk);
  }

  private finishTap(): void {
    const tapped = this.tapped;
    this.tapped = undefined;
    if (tapped) this.tap?.done(tapped.length === 1 ? tapped[0]! : Buffer.concat(tapped));
  }

  /** Drops the body (the answer will be something else). */
  discard(): void {
    this.pending = undefined;
    if (!this.ended) this.controller?.abort(new Error('response discarded'));
  }

  onRequestStart(controller: Http1Controller): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_controller: Http1Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx informational: the final response follows
    this.statusCode = statusCode;
    this.headers = headers;
    this.started = true;
    // After the bytes being parsed now (often the whole body too), as a promise would settle.
    if (this.listener) process.nextTick(notifyHead, this.listener, this);
    else this.resolve(this);
  }

  onResponseData(controller: Http1Controller, chunk: Buffer): void {
    const sink = this.sink;
    if (sink) {
      this.pending!.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > sink.limit) {
        this.sink = undefined;
        this.overflow(sink.reject, sink.limit);
      }
      return;
    }
    const res = this.res;
    if (res) {
      if (this.tapped) this.record(chunk);
      if (!res.write(chunk)) {
        controller.pause();
        this.resumeWhenDrained(res);
      }
      return;
    }
    if (this.pending) this.pending.push(chunk);
    else this.pending = [chunk];
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= PENDING_LIMIT) controller.pause();
  }

  onResponseEnd(): void {
    this.ended = true;
    const sink = this.sink;
    if (sink) {
      this.sink = undefined;
      sink.resolve(Buffer.concat(this.pending ?? []));
      this.pending = undefined;
      return;
    }
    if (this.tapped) this.finishTap();
    this.res?.end();
  }

  onResponseError(_controller: Http1Controller, error: Error): void {
    if (!this.started) {
      if (this.listener) process.nextTick(notifyFailure, this.listener, error);
      else this.reject(error);
      return;
    }
    this.failed = error;
    this.tapped = undefined;
    if (this.sink) {
      this.sink.reject(error);
      this.sink = undefined;
      return;
    }
    // Headers went out already: all we can do is cut the response short so the client notices.
    if (this.res && !this.res.writableFinished) this.res.destroy(error);
  }

  private resumeWhenDrained(res: ServerResponse): void {
    res.once('drain', () => this.controller?.resume());
  }
}

/** A request body handed to undici that reads the client's body only once undici pulls. */
export type LazyBody = Readable;
