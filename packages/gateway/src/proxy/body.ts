import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { PayloadTooLargeError } from '../errors.js';

/**
 * Whether a request has a body, by its head: a `content-length` other than `0` (even `00`), or
 * any `transfer-encoding`. Such a request is not idempotent for the retry policy, on both the
 * node:http path and the front.
 */
export function hasRequestBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined;
}

/** Whether the client's body has been touched; once it has, the request cannot be sent again. */
export interface BodyState {
  started: boolean;
}

/**
 * The client's request body as undici reads it. It starts reading `req` only when undici pulls
 * (after the upstream connection is up), so a request whose connection was refused has sent
 * nothing and can go to another instance. It also enforces the body limit on chunked bodies,
 * whose size no header announces. It never destroys `req` (that would kill the client socket).
 */
export class RequestBody extends Readable {
  private bytes = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly state: BodyState,
    private readonly limit: number | undefined,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    if (this.state.started) {
      this.req.resume();
      return;
    }
    this.state.started = true;
    const req = this.req;
    req.on('data', this.onData);
    req.once('end', this.onEnd);
    req.once('error', this.onError);
    req.once('aborted', this.onAborted);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const req = this.req;
    req.off('data', this.onData);
    req.off('end', this.onEnd);
    req.off('error', this.onError);
    req.off('aborted', this.onAborted);
    callback(error);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.bytes += chunk.length;
    if (this.limit !== undefined && this.bytes > this.limit) {
      this.req.pause();
      this.destroy(
        new PayloadTooLargeError(`Request body exceeds the limit of ${this.limit} bytes`, {
          data: { limit: this.limit },
        }),
      );
      return;
    }
    if (!this.push(chunk)) this.req.pause();
  };

  private readonly onEnd = (): void => {
    this.push(null);
  };

  private readonly onError = (error: Error): void => {
    this.destroy(error);
  };

  private readonly onAborted = (): void => {
    this.destroy(new Error('client aborted the request body'));
  };
}
