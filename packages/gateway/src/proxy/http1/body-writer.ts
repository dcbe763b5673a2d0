import type { Readable } from 'node:stream';
import type { Connection } from './connection.js';
import { Http1Error } from './errors.js';
import type { Http1Request } from './request.js';

function ignore(): void {}

/**
 * Streams a Readable request body onto the socket: raw when the caller announced its length,
 * chunk-framed otherwise. It reads only once the connection is up and stops while the socket's
 * buffer is full. Streaming bodies are the uncommon case, so their listeners are made per body.
 */
export class BodyWriter {
  private sent = 0;

  constructor(
    private readonly request: Http1Request,
    private readonly conn: Connection,
    private readonly stream: Readable,
  ) {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
  }

  /** The socket drained: read on. */
  drained(): void {
    this.stream.resume();
  }

  /** Stops listening (the request ended one way or another); the stream itself is the caller's. */
  detach(): void {
    const stream = this.stream;
    stream.off('data', this.onData);
    stream.off('end', this.onEnd);
    stream.off('error', this.onError);
    stream.on('error', ignore); // a late error of a stream nobody reads must not crash the process
    stream.pause();
  }

  private readonly onData = (data: Buffer | string): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (chunk.length === 0) return; // an empty chunk would end the chunked body early
    const request = this.request;
    const socket = this.conn.socket;
    this.sent += chunk.length;
    let flushed: boolean;
    if (request.declaredLength >= 0) {
      if (this.sent > request.declaredLength) {
        this.mismatch();
        return;
      }
      flushed = socket.write(chunk);
    } else {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      flushed = socket.write('\r\n', 'latin1');
      socket.uncork();
    }
    if (!flushed) this.stream.pause();
  };

  private readonly onEnd = (): void => {
    const request = this.request;
    if (request.declaredLength >= 0) {
      if (this.sent !== request.declaredLength) {
        this.mismatch();
        return;
      }
    } else this.conn.socket.write('0\r\n\r\n', 'latin1');
    request.bodySent = true;
    this.detach();
    request.writer = null;
  };

  private readonly onError = (error: Error): void => {
    this.request.pool.fail(this.request, error);
  };

  private mismatch(): void {
    this.request.pool.fail(
      this.request,
      new Http1Error(
        'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
        `request body length does not match content-length ${this.request.declaredLength}`,
      ),
    );
  }
}
