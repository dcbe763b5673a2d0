import type { IncomingHttpHeaders } from 'node:http';
import type { Http1Controller, Http1Handler } from '../proxy/http1/pool.js';

/**
 * One attempt's handler in front of a pool that starts a request only once it has a connection
 * for it: undici's (`https:` targets) calls `onRequestStart` from its writer, after connecting;
 * the gateway's own pool calls it at once. Until the start the exchange holds no controller to
 * abort, so a deadline or a client that leaves lets the attempt go instead ({@link release}):
 * its request is aborted as soon as it starts, and nothing it reports reaches the exchange.
 */
export class DeferredAttempt implements Http1Handler {
  private reason: Error | undefined;

  constructor(private readonly exchange: Http1Handler) {}

  /** The exchange moved on: the request is aborted with `reason` when it starts. */
  release(reason: Error): void {
    this.reason = reason;
  }

  onRequestStart(controller: Http1Controller, context: unknown): void {
    if (this.reason !== undefined) controller.abort(this.reason);
    else this.exchange.onRequestStart?.(controller, context);
  }

  onResponseStart(
    controller: Http1Controller,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.reason === undefined)
      this.exchange.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Http1Controller, chunk: Buffer): void {
    if (this.reason === undefined) this.exchange.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Http1Controller, trailers: IncomingHttpHeaders): void {
    if (this.reason === undefined) this.exchange.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Http1Controller, error: Error): void {
    if (this.reason === undefined) this.exchange.onResponseError?.(controller, error);
  }
}
