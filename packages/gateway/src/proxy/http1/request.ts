import type { BodyWriter } from './body-writer.js';
import type { Connection } from './connection.js';
import type { Http1Controller, Http1Handler, Http1Pool } from './pool.js';
import type { RequestBodyInput } from './request-head.js';

// Where a request is in its life; the state says which of the pool's counters (pending, running)
// holds it.
/** Created; `onRequestStart` has not returned yet. */
export const NEW = 0;
/** Waiting for a socket (counted as pending). */
export const QUEUED = 1;
/** Given a socket that is still connecting (counted as running). */
export const CONNECTING = 2;
/** Written to a connected socket; its response is awaited (counted as running). */
export const SENT = 3;
/** Ended: completed, failed or aborted. */
export const DONE = 4;

/**
 * One dispatched request and its controller. All per-request state lives here, so the hot path
 * allocates this object, the head string, and nothing per response but the header object.
 */
export class Http1Request implements Http1Controller {
  state = NEW;
  declaredLength = -1;
  closeRequested = false;
  /** The whole request body went out (the connection may be reused). */
  bodySent = false;
  conn: Connection | null = null;
  writer: BodyWriter | null = null;
  head = '';
  private isPaused = false;
  private abortReason: Error | null = null;

  constructor(
    readonly pool: Http1Pool,
    readonly handler: Http1Handler,
    readonly method: string,
    readonly body: RequestBodyInput,
  ) {}

  get aborted(): boolean {
    return this.abortReason !== null;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  get reason(): Error | null {
    return this.abortReason;
  }

  abort(reason: Error): void {
    if (this.state === DONE || this.abortReason !== null) return;
    this.abortReason = reason;
    this.pool.fail(this, reason);
  }

  pause(): void {
    this.isPaused = true;
    this.conn?.socket.pause();
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    const conn = this.conn;
    if (conn !== null && !conn.closed) conn.socket.resume();
  }
}
