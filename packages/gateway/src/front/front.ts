import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { Headers } from '@flotilla/core';
import { clientErrorAnswer } from '../answers.js';
import type { FrontRefusal, Gateway } from '../gateway.js';
import { requestIdOf } from '../proxy/ids.js';
import type { RouteMatch } from '../routes/table.js';
import { problemAnswer, writeWhole } from './answer.js';
import { DeadlineLists } from './deadlines.js';
import { FrontExchange, type FrontHost, type FrontSink } from './exchange.js';
import { type FrontRequest, mayStartRequest, parseRequestHead } from './request-head.js';

/** Options of a {@link Front}. */
export interface FrontOptions {
  /** Largest request head in bytes; a longer one goes to node:http (which answers 431). */
  maxHeaderSize: number;
  /** Time a client has to send a request head (408 after it). */
  headersTimeoutMs: number;
  /**
   * Time a client has to send a whole request with its body, counted from the first byte of its
   * head as node:http counts it (408 after it); 0 for none.
   */
  requestTimeoutMs: number;
  /** Idle time after which a keep-alive connection is closed. */
  keepAliveTimeoutMs: number;
}

/** Counters of a front (`running.front.stats`, and `/metrics`). */
export interface FrontStats {
  /** Requests the fast path answered. */
  served: number;
  /** Connections handed to node:http. */
  handedOff: number;
  /** Open connections the front still owns. */
  readonly connections: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** The interim answer to `Expect: 100-continue`, as node:http writes it. */
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Bytes a client may send ahead (pipelined requests) while an answer is being written. */
const READ_AHEAD_LIMIT = 64 * 1024;
/**
 * Largest request body the front takes (held whole before it goes upstream, so a service's next
 * instance gets the same bytes when the first refused the connection); a longer one, or a
 * chunked one, goes to node:http, which streams it.
 */
export const FRONT_BODY_LIMIT = 64 * 1024;
/** Size of the buffer a body that did not come whole with its head is first gathered in (at least twice what came). */
const GATHER_START = 4 * 1024;

/**
 * The fast-path front of the gateway's HTTP server. Each accepted connection comes here first:
 * requests the front can take whole (HTTP/1.1 or 1.0, GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS,
 * no body or a `Content-Length` one up to {@link FRONT_BODY_LIMIT} and the route's limit, any
 * route `Gateway.frontMatch` gives, or no route: its 404 or 400) are parsed and answered here,
 * without node:http's per-request objects. Any other request, or any head the strict parser does
 * not accept, hands the connection with the bytes read so far to node:http for the rest of its
 * life, so node:http keeps producing every other answer (400, 413, 431, chunked or longer
 * bodies, upgrades) exactly as without the front.
 */
export class Front {
  readonly stats: FrontStats;
  private readonly open = new Set<FrontConnection>();
  private readonly nodeListener: (socket: Socket) => void;
  private closing = false;
  /** Times the connections' head, body and keep-alive waits; runs while the front owns connections. */
  private sweeper: NodeJS.Timeout | undefined;
  private readonly sweepMs: number;
  /** The route deadlines of requests in flight, one list per timeout. */
  readonly deadlines = new DeadlineLists();
  /** `Connection`/`Keep-Alive` lines of a keep-alive answer, as node:http writes them. */
  readonly keepAliveLines: string;

  constructor(
    readonly host: FrontHost & Pick<Gateway, 'frontMatch' | 'bodyLimitOf'>,
    private readonly server: Server,
    readonly options: FrontOptions,
  ) {
    const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
    if (listeners.length !== 1)
      throw new Error('the front takes over a server with exactly one connection listener');
    this.nodeListener = listeners[0]!;
    server.removeListener('connection', this.nodeListener);
    server.on('connection', (socket: Socket) => this.accept(socket));
    const open = this.open;
    this.stats = {
      served: 0,
      handedOff: 0,
      get connections() {
        return open.size;
      },
    };
    // Per request, a connection only notes when its wait ends; a sweep a tenth of the shorter
    // timeout apart (at most 1 s) acts on it, instead of a timer set and cleared per request.
    const shorter = Math.min(options.headersTimeoutMs || 1_000, options.keepAliveTimeoutMs || 1_000);
    this.sweepMs = Math.min(1_000, Math.max(10, Math.floor(shorter / 10)));
    const seconds = Math.floor(options.keepAliveTimeoutMs / 1000);
    this.keepAliveLines =
      options.keepAliveTimeoutMs > 0
        ? `Connection: keep-alive\r\nKeep-Alive: timeout=${seconds}\r\n`
        : 'Connection: keep-alive\r\n';
  }

  get isClosing(): boolean {
    return this.closing;
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.open.add(new FrontConnection(this, socket));
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(sweep, this.sweepMs, this);
      this.sweeper.unref();
    }
  }

  /** Ends the waits that ran out; stops sweeping once no connection is left. */
  sweep(): void {
    if (this.open.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
      return;
    }
    const now = Date.now();
    for (const conn of this.open) conn.sweep(now);
  }

  /** Stops keeping connections: idle ones close now, busy ones after their answer. */
  closeIdle(): void {
    this.closing = true;
    for (const conn of this.open) conn.closeIfIdle();
  }

  /** Closes every connection the front owns. */
  closeAll(): void {
    this.closing = true;
    for (const conn of this.open) conn.destroy();
  }

  /** Gives `socket` to node:http; `buffered` are the bytes read and not answered yet. */
  handOff(conn: FrontConnection, socket: Socket, buffered: Buffer | undefined, ended: boolean): void {
    this.open.delete(conn);
    this.stats.handedOff++;
    this.nodeListener.call(this.server, socket);
    // node:http reads the socket itself from now on (it consumes the handle); the bytes read
    // already reach its parser through the `data` listener it just added, before any new ones.
    if (buffered) socket.emit('data', buffered);
    if (ended) socket.emit('end');
    else if (socket.isPaused()) socket.resume();
  }

  /** A connection closed: the front no longer owns it. */
  forget(conn: FrontConnection): void {
    this.open.delete(conn);
  }
}

const IDLE = 0;
const HEADERS = 1;
const KEEP_ALIVE = 2;
const BODY = 3;

/** A request whose head the front took and whose body it gathers, with what it needs to start it then. */
interface TakenRequest {
  readonly request: FrontRequest;
  readonly match: RouteMatch;
  /** When its head was read (`performance.now()`). */
  readonly parsedAt: number;
  readonly pathname: string;
  readonly search: string;
  /** Where its body starts in the connection's buffer. */
  readonly bodyStart: number;
  /**
   * When its head started to arrive (Unix ms), noted only for a head that took more than one
   * read; 0 for a head read whole (it started when its body wait starts, within a read).
   */
  readonly headStartedAt: number;
}

/** One client connection while the front owns it. */
class FrontConnection implements FrontSink {
  readonly remoteAddress: string | undefined;
  private buffer: Buffer | undefined;
  private exchange: FrontExchange | undefined;
  /**
   * A request waiting for the rest of its body. Its head and body are gathered in `gathered`,
   * `filled` bytes so far: a body in a thousand small reads is not held as a thousand buffers,
   * and the buffer doubles as bytes come (up to the head and body's size), so a client that
   * announces 64 KiB and sends a byte does not make the front hold 64 KiB.
   */
  private pending: TakenRequest | undefined;
  /**
   * When the head being waited for was first seen incomplete (Unix ms), 0 before: the request
   * timeout counts from there, as node:http's. Noted there, not per read, so a head that comes
   * in one read (nearly all) costs no clock read.
   */
  private headStartedAt = 0;
  private gathered: Buffer | undefined;
  private filled = 0;
  /** Bytes of a refused request's body still to come, dropped as they come (see `refuse`). */
  private skipping = 0;
  /** Bytes read while an answer is being made or the client's socket drains, in read order. */
  private ahead: Buffer[] | undefined;
  private aheadBytes = 0;
  /** What the connection waits for that the front's sweep times (HEADERS, BODY, KEEP_ALIVE, or IDLE for nothing), and until when (Unix ms). */
  private waitKind = IDLE;
  private waitEnd = 0;
  private answered = 0;
  private closeAfter = false;
  private gone = false;
  /** The connection is ending (after its last answer or a 408): bytes that still come are dropped. */
  private ending = false;
  /** `advance` is running: an answer completed inside it continues its loop instead of recursing. */
  private advancing = false;
  private again = false;
  /** The socket's write buffer is full: the next request waits for 'drain' (as node:http does). */
  private draining = false;

  constructor(
    private readonly front: Front,
    private readonly socket: Socket,
  ) {
    this.remoteAddress = socket.remoteAddress;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    this.startWait(HEADERS, front.options.headersTimeoutMs);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.ending) return;
    if (this.skipping > 0) {
      const skipped = Math.min(this.skipping, chunk.length);
      this.skipping -= skipped;
      if (this.skipping > 0) return;
      // The refused request's body is over: what follows is the next request.
      this.stopWait();
      if (skipped === chunk.length) {
        if (!this.draining) this.advance();
        return;
      }
      chunk = chunk.subarray(skipped);
    }
    if (this.gathered !== undefined) {
      const whole = this.wholeLength();
      const gathered = this.room(chunk.length);
      const taken = Math.min(chunk.length, whole - this.filled);
      chunk.copy(gathered, this.filled, 0, taken);
      this.filled += taken;
      if (this.filled < whole) return;
      // The body is whole (and `gathered` has its size); bytes after it (a pipelined request)
      // follow it in the buffer.
      this.gathered = undefined;
      this.buffer = taken === chunk.length ? gathered : Buffer.concat([gathered, chunk.subarray(taken)]);
      this.advance();
      return;
    }
    const buffer = this.buffer;
    if (this.exchange !== undefined || this.draining) {
      // Read ahead: kept as they come and joined once when the next request is read (joined
      // per read, a client sending a byte at a time would cost 64 KiB² of copying).
      if (this.ahead === undefined) this.ahead = [chunk];
      else this.ahead.push(chunk);
      this.aheadBytes += chunk.length;
      if ((buffer?.length ?? 0) + this.aheadBytes > READ_AHEAD_LIMIT) this.socket.pause();
      return;
    }
    this.joinAhead(); // empty here on every path today; joined first, bytes cannot reorder
    this.buffer = this.buffer === undefined ? chunk : Buffer.concat([this.buffer, chunk]);
    this.advance();
  };

  /** Moves the bytes read ahead to the end of `buffer`. */
  private joinAhead(): void {
    const ahead = this.ahead;
    if (ahead === undefined) return;
    if (this.buffer !== undefined) ahead.unshift(this.buffer);
    this.buffer = ahead.length === 1 ? ahead[0] : Buffer.concat(ahead);
    this.ahead = undefined;
    this.aheadBytes = 0;
  }

  /**
   * Runs {@link next} until a request is in flight or more bytes are needed. An answer that
   * completes inside `next` (a deadline already past, a pool that fails at once) asks for another
   * round instead of recursing, so a thousand pipelined requests use one stack frame each, not a
   * thousand. A fault of the front costs one connection, never the process.
   */
  private advance(): void {
    if (this.advancing) {
      this.again = true;
      return;
    }
    this.advancing = true;
    try {
      this.joinAhead();
      do {
        this.again = false;
        this.next();
      } while (this.again && this.exchange === undefined && !this.draining && !this.ending && !this.gone);
    } catch (error) {
      this.front.host.logger.error({ err: error }, 'fast-path front failed; connection dropped');
      this.socket.destroy();
    } finally {
      this.advancing = false;
    }
  }

  private readonly onDrained = (): void => {
    this.draining = false;
    if (!this.gone && !this.ending) this.readOn();
  };

  /** Reads the next request, unless the client has not read its answers yet (as node:http waits). */
  private readOn(): void {
    if (this.socket.writableNeedDrain) {
      // The client does not read its answers: read no more requests until it does.
      this.draining = true;
      this.socket.pause();
      this.socket.once('drain', this.onDrained);
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.advance();
  }

  private readonly onEnd = (): void => {
    // As node:http does (it does not allow half-open clients): an answer being made is dropped
    // and the connection ends; bytes not answered yet go to node:http, which does the same. A
    // request whose body was cut short gets node:http's 400 (its parser fails at the end of
    // input); nothing of it went upstream.
    if (this.pending !== undefined || this.skipping > 0) {
      this.end(clientErrorAnswer(400));
      return;
    }
    const exchange = this.exchange;
    if (exchange !== undefined) {
      this.exchange = undefined;
      exchange.abandon();
      this.end();
      return;
    }
    this.joinAhead();
    if (this.buffer === undefined || this.ending) this.end();
    else this.handOff(true);
  };

  private readonly onClose = (): void => {
    this.gone = true;
    this.waitKind = IDLE;
    this.dropPending();
    this.front.forget(this);
    this.exchange?.abandon();
    this.exchange = undefined;
  };

  private readonly onError = (): void => {
    // 'close' follows: that is where the connection is cleaned up.
  };

  /** Reads and starts the next request in the buffer, or waits for one (or for its body). */
  private next(): void {
    if (this.skipping > 0) return; // `onData` comes back once the refused body is over
    const pending = this.pending;
    if (pending !== undefined) {
      // Gathering: `onData` comes back here once the body is whole.
      if (this.gathered === undefined) {
        this.pending = undefined;
        const { request, match, parsedAt, pathname, search, bodyStart } = pending;
        this.begin(request, match, parsedAt, pathname, search, bodyStart);
      }
      return;
    }
    const front = this.front;
    const buffer = this.buffer;
    if (buffer === undefined) {
      if (front.isClosing || this.closeAfter) this.end();
      else if (this.answered > 0) this.startWait(KEEP_ALIVE, front.options.keepAliveTimeoutMs);
      else this.startWait(HEADERS, front.options.headersTimeoutMs);
      return;
    }
    const maxHeaderSize = front.options.maxHeaderSize;
    const end = buffer.indexOf(HEAD_END);
    if (end === -1) {
      // A head that can no longer become one the front takes goes to node:http now (its 400),
      // not after the head timeout.
      if (buffer.length > maxHeaderSize || cannotBeTaken(buffer)) this.handOff(false);
      else {
        if (this.headStartedAt === 0) this.headStartedAt = Date.now();
        if (this.waitKind !== HEADERS) this.startWait(HEADERS, front.options.headersTimeoutMs);
      }
      return;
    }
    const request =
      end + 4 <= maxHeaderSize ? parseRequestHead(buffer.toString('latin1', 0, end)) : undefined;
    if (request === undefined) {
      this.handOff(false);
      return;
    }
    const parsedAt = performance.now();
    const url = request.url;
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? '' : url.slice(q);
    const match = front.host.frontMatch(request.method, pathname, search, request.headers);
    const length = request.contentLength;
    // A body over the route's limit gets node:http's 413; a longer or chunked one, its streaming.
    // A static, redirect or composite route answers without reading a body, which node:http then drops.
    if (
      !('problem' in match) &&
      length > 0 &&
      (length > FRONT_BODY_LIMIT ||
        length > front.host.bodyLimitOf(match.route) ||
        match.route.action.kind !== 'proxy')
    ) {
      this.handOff(false);
      return;
    }
    // Taken: a client that waits for it gets `100 Continue` now, before any answer, as node:http
    // writes it before its request handler runs.
    if (request.expectContinue) this.socket.write(CONTINUE, 'latin1');
    // The head wait ends: `gather` or `refuse` starts the body's, `begin` stops it.
    const headStartedAt = this.headStartedAt;
    this.headStartedAt = 0;
    const bodyStart = end + 4;
    if ('problem' in match) {
      this.refuse(request, match, parsedAt, bodyStart, headStartedAt);
      return;
    }
    if (buffer.length < bodyStart + length)
      this.gather({ request, match, parsedAt, pathname, search, bodyStart, headStartedAt });
    else this.begin(request, match, parsedAt, pathname, search, bodyStart);
  }

  /**
   * Gathers the body of `pending`, which did not come whole with its head (408 once the request
   * timeout, counted from the head's start, ends, as node:http answers a body that does not
   * come); `onData` starts it once the body is whole.
   */
  private gather(pending: TakenRequest): void {
    const buffer = this.buffer!;
    const whole = pending.bodyStart + pending.request.contentLength;
    this.pending = pending;
    this.gathered = Buffer.allocUnsafe(Math.min(whole, Math.max(2 * buffer.length, GATHER_START)));
    this.filled = buffer.copy(this.gathered);
    this.buffer = undefined;
    this.startBodyWait(pending.headStartedAt);
  }

  /**
   * Starts a request whose head and body are in the buffer, the body from `bodyStart`; the bytes
   * after it stay for the next request.
   */
  private begin(
    request: FrontRequest,
    match: RouteMatch,
    parsedAt: number,
    pathname: string,
    search: string,
    bodyStart: number,
  ): void {
    const buffer = this.buffer!;
    const bodyEnd = bodyStart + request.contentLength;
    this.stopWait();
    const body = bodyEnd > bodyStart ? buffer.subarray(bodyStart, bodyEnd) : null;
    this.keepAfter(bodyEnd);
    if (request.close) this.closeAfter = true;
    const front = this.front;
    front.stats.served++;
    const exchange = new FrontExchange(front.host, front.deadlines, this, request, match, parsedAt, body);
    this.exchange = exchange;
    exchange.start(pathname, search);
  }

  /**
   * The gathering buffer, grown (doubled, at most to the head and body's size) until `more` bytes
   * fit or it has that size.
   */
  private room(more: number): Buffer {
    const gathered = this.gathered!;
    const whole = this.wholeLength();
    if (this.filled + more <= gathered.length || gathered.length === whole) return gathered;
    let size = gathered.length;
    while (size < this.filled + more && size < whole) size *= 2;
    const grown = Buffer.allocUnsafe(Math.min(size, whole));
    gathered.copy(grown, 0, 0, this.filled);
    this.gathered = grown;
    return grown;
  }

  /** Keeps the buffer's bytes after `end` (a request's end) for the next request. */
  private keepAfter(end: number): void {
    const buffer = this.buffer!;
    this.buffer = end < buffer.length ? buffer.subarray(end) : undefined;
  }

  /** Bytes of the pending request's head and body. */
  private wholeLength(): number {
    const pending = this.pending!;
    return pending.bodyStart + pending.request.contentLength;
  }

  private dropPending(): void {
    this.pending = undefined;
    this.gathered = undefined;
  }

  /** Forgets every byte read and not answered (the connection is ending). */
  private dropBytes(): void {
    this.buffer = undefined;
    this.ahead = undefined;
    this.aheadBytes = 0;
    this.skipping = 0;
    this.dropPending();
  }

  closeAfterAnswer(): void {
    this.closeAfter = true;
  }

  connectionLines(): string {
    return this.closeAfter || this.front.isClosing ? 'Connection: close\r\n' : this.front.keepAliveLines;
  }

  write(data: string | Buffer): boolean {
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  onDrain(resume: () => void): void {
    this.socket.once('drain', resume);
  }

  finished(exchange: FrontExchange): void {
    if (this.exchange !== exchange || this.gone) return;
    this.exchange = undefined;
    this.answeredOne();
  }

  /**
   * Answers a request the gateway refuses without a route (404, or 400 for a bad path) with the
   * node:http path's problem, counted in metrics as it counts it; the connection stays the
   * front's. As node:http, it answers at once, before a body it has not read yet, whose bytes
   * are then skipped as they come (`skipping`), still under the request timeout.
   */
  private refuse(
    request: FrontRequest,
    refusal: FrontRefusal,
    parsedAt: number,
    bodyStart: number,
    headStartedAt: number,
  ): void {
    const buffer = this.buffer!;
    const bodyEnd = bodyStart + request.contentLength;
    this.stopWait();
    if (bodyEnd <= buffer.length) this.keepAfter(bodyEnd);
    else {
      this.buffer = undefined;
      this.skipping = bodyEnd - buffer.length;
      this.startBodyWait(headStartedAt);
    }
    if (request.close) this.closeAfter = true;
    const front = this.front;
    front.stats.served++;
    const { problem, counted } = refusal;
    const { headers, body } = problemAnswer(
      problem,
      requestIdOf(request.headers[Headers.requestId]),
      undefined,
    );
    if (!writeWhole(this, request.method, problem.status, headers, body)) return;
    if (counted !== undefined)
      front.host.metrics?.request(
        counted,
        request.method,
        problem.status,
        (performance.now() - parsedAt) / 1000,
      );
    this.answeredOne();
  }

  /** An answer is complete: the connection ends if it should, or reads the next request. */
  private answeredOne(): void {
    this.answered++;
    if (this.closeAfter || this.front.isClosing) {
      // As node:http ends a connection after its last answer: once the bytes are out.
      this.ending = true;
      this.dropBytes();
      this.socket.destroySoon();
      return;
    }
    this.readOn();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Closes the connection unless a request is being received or answered. */
  closeIfIdle(): void {
    if (this.exchange === undefined && this.pending === undefined && this.skipping === 0)
      this.socket.destroy();
  }

  /** Ends the connection, after `last` if given; the front reads nothing more from it. */
  private end(last?: string): void {
    this.ending = true;
    this.dropBytes();
    if (last === undefined) this.socket.end();
    else this.socket.end(last, 'latin1');
  }

  private handOff(ended: boolean): void {
    this.stopWait();
    const socket = this.socket;
    socket.removeListener('data', this.onData);
    socket.removeListener('end', this.onEnd);
    socket.removeListener('close', this.onClose);
    socket.removeListener('error', this.onError);
    this.joinAhead();
    const buffered = this.buffer;
    this.buffer = undefined;
    this.front.handOff(this, socket, buffered, ended);
  }

  /**
   * Waits for the rest of a request under the request timeout, counted from the start of its
   * head (`headStartedAt`, or now for a head read whole), as node:http counts it.
   */
  private startBodyWait(headStartedAt: number): void {
    this.startWait(BODY, this.front.options.requestTimeoutMs, headStartedAt || Date.now());
  }

  private startWait(kind: number, ms: number, from = Date.now()): void {
    this.waitKind = ms > 0 ? kind : IDLE;
    this.waitEnd = from + ms;
  }

  private stopWait(): void {
    this.waitKind = IDLE;
  }

  /**
   * Called by the front's sweep: a head or body not received in time gets a 408, an idle
   * connection closes.
   */
  sweep(now: number): void {
    const kind = this.waitKind;
    if (kind === IDLE || now < this.waitEnd) return;
    this.waitKind = IDLE;
    if (kind === HEADERS || kind === BODY) this.end(clientErrorAnswer(408));
    else if (kind === KEEP_ALIVE) this.socket.destroy();
  }
}

/**
 * Whether the start of a head (no blank line yet) can already not be one the front takes: it
 * does not begin like a request line of a method the front takes (`GET /`, `POST /`…), holds a
 * control byte other than CR, LF and tab or a byte above 0x7e, or a bare CR or LF. node:http then
 * answers it at once (400) instead of the front waiting for a blank line that may never come.
 */
function cannotBeTaken(bytes: Buffer): boolean {
  if (!mayStartRequest(bytes)) return true;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13) || c > 126) return true;
  }
  return hasBareLineEnd(bytes);
}

/** Whether `bytes` hold an LF without a CR before it, or a CR followed by something else than LF. */
function hasBareLineEnd(bytes: Buffer): boolean {
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1))
    if (i === 0 || bytes[i - 1] !== 13) return true;
  for (let i = bytes.indexOf(13); i !== -1; i = bytes.indexOf(13, i + 1))
    if (i + 1 < bytes.length && bytes[i + 1] !== 10) return true;
  return false;
}

function sweep(front: Front): void {
  front.sweep();
}
