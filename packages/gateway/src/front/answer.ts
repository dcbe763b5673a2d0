import type { IncomingHttpHeaders } from 'node:http';
import { PROBLEM_CONTENT_TYPE, type Problem } from '@flotilla/core';
import { problemHeaders, staticHeaders, unrelayableHeadersProblem, withExtra } from '../answers.js';
import { PENDING_LIMIT } from '../proxy/exchange.js';
import { failureAnswer } from '../proxy/failure.js';
import { clientResponseHeaders, connectionTokens, type HeaderRecord } from '../proxy/headers.js';
import type { Http1Controller } from '../proxy/http1/pool.js';
import type { CompiledRoute } from '../routes/compile.js';
import { applyHeaderOps } from '../routes/header-ops.js';
import { applySecureHeaders } from '../traffic/secure-headers.js';
import type { CacheFill } from './cache-fill.js';
import type { FrontExchange, FrontHost, FrontSink } from './exchange.js';
import type { FrontRequest } from './request-head.js';
import { AS_IS, CHUNKED, type Framing, hasNoBody, relayedHead, responseHead } from './response-head.js';

const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
/** Largest body written with its head as one string (latin1 keeps every byte as it is). */
const ONE_WRITE_LIMIT = 16 * 1024;

/**
 * The client's side of a front exchange: the answer written to the client's socket. Either the
 * upstream's (its head with the gateway's headers, then its body as it comes, with backpressure),
 * or one of the gateway's own: a cached answer or a refusal the exchange hands it, or, for a
 * failed exchange, what `failureAnswer` makes of the failure (the route's fallback, a problem, a
 * dropped connection). It keeps a cache miss's copy and says when the answer is complete.
 */
export class FrontAnswer {
  private answerStatus = 0;
  private isOver = false;
  /** The upstream's answer is being dropped for one of the gateway's own: its events are ignored. */
  private discarded = false;
  /** Headers the route's features add to the answer (CORS, `RateLimit-*`, `x-cache`). */
  extra: Record<string, string> | undefined;
  /** A cache miss: the body's copy, for the cache once the answer ended. */
  filling: CacheFill | undefined;
  private upstreamHeaders: IncomingHttpHeaders | undefined;
  /** Body chunks that arrived before the head was written. */
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private headWritten = false;
  private chunked = false;
  /** The upstream's answer ended. */
  private ended = false;

  constructor(
    /** The exchange this answers (the sink hears it finished). */
    private readonly exchange: FrontExchange,
    private readonly host: Pick<FrontHost, 'logger' | 'metrics'>,
    private readonly sink: FrontSink,
    private readonly request: FrontRequest,
    private readonly route: CompiledRoute,
    private readonly requestId: string,
    /** When the request's head was read (`performance.now()`). */
    private readonly startedAt: number,
  ) {}

  /** The answer is complete, or the client is gone: nothing more is written. */
  get over(): boolean {
    return this.isOver;
  }

  /** A head arrived from the upstream, or an answer of the gateway's own was chosen. */
  get started(): boolean {
    return this.answerStatus !== 0;
  }

  /** The client left: nothing more is written. False when the answer was over already. */
  abandon(): boolean {
    if (this.isOver) return false;
    this.isOver = true;
    return true;
  }

  /** The upstream's head arrived: kept until {@link flushHead} writes it. */
  upstreamHead(status: number, headers: IncomingHttpHeaders): void {
    this.answerStatus = status;
    this.upstreamHeaders = headers;
  }

  /** A chunk of the upstream's body: held until the head is written, then written as it comes. */
  upstreamData(controller: Http1Controller, chunk: Buffer): void {
    if (this.isOver || this.discarded) return;
    this.filling?.add(chunk);
    if (!this.headWritten) {
      if (this.pending) this.pending.push(chunk);
      else this.pending = [chunk];
      this.pendingBytes += chunk.length;
      if (this.pendingBytes >= PENDING_LIMIT) controller.pause();
      return;
    }
    if (!this.writeBody(chunk)) {
      controller.pause();
      this.sink.onDrain(() => controller.resume());
    }
  }

  /** The upstream's answer ended: complete unless its head is still to be written (which completes it then). */
  upstreamEnd(): void {
    this.ended = true;
    if (this.isOver || !this.headWritten) return;
    this.storeInCache();
    if (this.chunked) this.sink.write(LAST_CHUNK);
    this.complete();
  }

  /** The upstream's answer broke after its head: the client's connection goes, the answer cut short. */
  cut(): void {
    if (this.isOver || this.discarded) return;
    this.isOver = true;
    this.sink.destroy();
  }

  /** Writes the head, with the body received so far (often all of it); `controller` is the attempt's. */
  flushHead(controller: Http1Controller | undefined): void {
    if (this.isOver) return;
    const status = this.answerStatus;
    const upstream = this.upstreamHeaders!;
    const route = this.route;
    const pending = this.pending;
    // As node:http frames a relayed head (its headers are written before the body is known): a
    // body without a length is chunked, however little of it there is.
    const bodyFollows = !hasNoBody(this.request.method, status);
    let framing: Framing;
    let head: string | undefined;
    const extra = this.extra;
    if (route.responseHeaders === undefined && connectionTokens(upstream.connection) === undefined) {
      // The common case: the head straight from the upstream's headers (the features' own
      // headers never frame the body).
      framing = this.framingOf(bodyFollows, upstream['content-length']);
      head = relayedHead(status, upstream, this.requestId, extra, this.sink.connectionLines(), framing);
    } else {
      const headers = clientResponseHeaders(upstream, this.requestId);
      if (extra !== undefined) withExtra(headers, extra);
      if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
      applySecureHeaders(headers);
      framing = this.framingOf(bodyFollows, headers['content-length']);
      head = responseHead(status, headers, this.sink.connectionLines(), framing);
    }
    if (head === undefined) {
      this.discarded = true;
      controller?.abort(new Error('response discarded'));
      this.host.logger.warn({ route: route.id }, 'upstream response headers could not be relayed');
      this.problem(unrelayableHeadersProblem(), undefined);
      return;
    }
    this.headWritten = true;
    this.chunked = framing === CHUNKED;
    const sink = this.sink;
    this.pending = undefined;
    // The whole answer arrived with its head, which is written now: the cache may keep it.
    if (this.ended) this.storeInCache();
    if (this.ended && this.pendingBytes <= ONE_WRITE_LIMIT) {
      // The whole answer is here and small: one string, one write (no cork, no writev).
      sink.write(head + bodyText(pending, this.chunked));
      this.complete();
      return;
    }
    sink.cork();
    sink.write(head);
    let full = false;
    if (pending) for (const chunk of pending) full = !this.writeBody(chunk) || full;
    if (this.ended && this.chunked) sink.write(LAST_CHUNK);
    sink.uncork();
    if (this.ended) this.complete();
    else if (controller?.paused) {
      if (full) sink.onDrain(() => controller.resume());
      else controller.resume();
    }
  }

  /**
   * How the relayed body is framed, given the answer's `Content-Length`: as it is with one;
   * without one, chunked for an HTTP/1.1 client, and for an HTTP/1.0 client as it is, up to the
   * connection's end (node:http keeps no such client's connection without a length, body or
   * not). Called before the head's connection lines are written.
   */
  private framingOf(bodyFollows: boolean, length: string | string[] | undefined): Framing {
    if (length !== undefined) return AS_IS;
    if (this.request.http10) {
      this.sink.closeAfterAnswer();
      return AS_IS;
    }
    return bodyFollows ? CHUNKED : AS_IS;
  }

  /**
   * A cache miss's answer ended and its head went to the client: the cache gets the copy. Never
   * an answer the gateway replaced (an unrelayable head's 502) or whose client left, as on the
   * node:http path, which stores only what it relayed whole.
   */
  private storeInCache(): void {
    const filling = this.filling;
    if (filling === undefined || this.discarded || this.isOver) return;
    this.filling = undefined;
    filling.store(this.answerStatus, this.upstreamHeaders!);
  }

  private writeBody(chunk: Buffer): boolean {
    if (!this.chunked) return this.sink.write(chunk);
    if (chunk.length === 0) return true;
    this.sink.write(chunkSizeLine(chunk.length));
    this.sink.write(chunk);
    return this.sink.write(CRLF);
  }

  private complete(): void {
    this.isOver = true;
    this.host.metrics?.request(
      this.route.id,
      this.request.method,
      this.answerStatus,
      (performance.now() - this.startedAt) / 1000,
    );
    this.sink.finished(this.exchange);
  }

  /** The exchange failed before a head: the route's fallback, a problem, or a dropped connection. */
  fail(error: unknown): void {
    const route = this.route;
    const outcome = failureAnswer(
      this.host.logger,
      this.request.method,
      this.request.url,
      route,
      error,
      this.requestId,
    );
    if (outcome.kind === 'destroy') {
      this.isOver = true;
      this.sink.destroy();
    } else if (outcome.kind === 'fallback') {
      const response = outcome.response;
      this.whole(response.status, staticHeaders(route, response, this.requestId, this.extra), response.body);
    } else this.problem(outcome.problem, outcome.headers ?? this.extra);
  }

  /** A problem+json answer; `extra` are the features' headers. */
  problem(p: Problem, extra: Record<string, string> | undefined): void {
    const { headers, body } = problemAnswer(p, this.requestId, extra);
    this.whole(p.status, headers, body);
  }

  /** A whole answer of the gateway's own (no upstream body follows). */
  whole(status: number, headers: HeaderRecord, body: Buffer): void {
    this.answerStatus = status;
    if (!writeWhole(this.sink, this.request.method, status, headers, body)) {
      this.isOver = true;
      return;
    }
    this.headWritten = true;
    this.complete();
  }
}

/** The headers and body of a problem+json answer; `extra` are the features' headers. */
export function problemAnswer(
  p: Problem,
  requestId: string,
  extra: Record<string, string> | undefined,
): { headers: HeaderRecord; body: Buffer } {
  const body = Buffer.from(JSON.stringify({ ...p, instance: requestId }));
  const headers: HeaderRecord = problemHeaders(requestId, extra);
  headers['content-type'] = PROBLEM_CONTENT_TYPE;
  headers['content-length'] = String(body.length);
  return { headers, body };
}

/**
 * Writes a whole answer of the gateway's own to `sink` (no body after a HEAD, a 204 or a 304).
 * False when its head cannot be written: the connection is dropped then.
 */
export function writeWhole(
  sink: FrontSink,
  method: string,
  status: number,
  headers: HeaderRecord,
  body: Buffer,
): boolean {
  const head = responseHead(status, headers, sink.connectionLines(), AS_IS);
  if (head === undefined) {
    sink.destroy();
    return false;
  }
  sink.cork();
  sink.write(head);
  if (!hasNoBody(method, status)) sink.write(body);
  sink.uncork();
  return true;
}

/** The body chunks as latin1 text, framed as chunks when `chunked` (with the last chunk). */
function bodyText(chunks: Buffer[] | undefined, chunked: boolean): string {
  let text = '';
  if (chunks)
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      text += chunked
        ? `${chunkSizeLine(chunk.length)}${chunk.toString('latin1')}${CRLF}`
        : chunk.toString('latin1');
    }
  return chunked ? text + LAST_CHUNK : text;
}

/** The line before a chunk of `length` bytes (chunked framing). */
function chunkSizeLine(length: number): string {
  return length.toString(16) + CRLF;
}
