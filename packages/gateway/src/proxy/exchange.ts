import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** Bytes of response body held while nobody is attached yet, before reading pauses. */
const PENDING_LIMIT = 64 * 1024;

/**
 * One request to one upstream, on undici's dispatch API (no intermediate response stream: body
 * chunks go straight to the client's `ServerResponse`, with backpressure through pause/resume).
 * `headers` resolves when the upstream's status and headers arrive; the body is held (up to 64
 * KiB, then reading pauses) until `attach()` names where it goes, so the caller can first decide
 * (retry, breaker, fallback) what to answer.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler {
  statusCode = 0;
  headers: IncomingHttpHeaders = {};
  readonly headersReceived: Promise<UpstreamExchange>;
  private resolve!: (value: UpstreamExchange) => void;
  private reject!: (error: Error) => void;
  private controller: Dispatcher.DispatchController | undefined;
  private res: ServerResponse | undefined;
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private ended = false;
  private failed: Error | undefined;
  private started = false;
  private abortReason: Error | undefined;

  constructor() {
    this.headersReceived = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Sends the request through `dispatcher`. */
  dispatch(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions): Promise<UpstreamExchange> {
    dispatcher.dispatch(options, this);
    return this.headersReceived;
  }

  /** Stops the exchange: before headers the promise rejects with `reason`; after, the body stops. */
  abort(reason: Error): void {
    if (this.controller) this.controller.abort(reason);
    else this.abortReason = reason;
  }

  /** Streams the (rest of the) body into `res`, which the caller has already given its head. */
  attach(res: ServerResponse): void {
    this.res = res;
    const pending = this.pending;
    this.pending = undefined;
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

  /** Drops the body (the answer will be something else). */
  discard(): void {
    this.pending = undefined;
    if (!this.ended) this.controller?.abort(new Error('response discarded'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return; // 1xx informational: the final response follows
    this.statusCode = statusCode;
    this.headers = headers;
    this.started = true;
    this.resolve(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.res;
    if (res) {
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
    this.res?.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.started) {
      this.reject(error);
      return;
    }
    this.failed = error;
    // Headers went out already: all we can do is cut the response short so the client notices.
    if (this.res && !this.res.writableFinished) this.res.destroy(error);
  }

  private resumeWhenDrained(res: ServerResponse): void {
    res.once('drain', () => this.controller?.resume());
  }
}

/** A request body handed to undici that reads the client's body only once undici pulls. */
export type LazyBody = Readable;
