/**
 * Server-sent events (`text/event-stream`) parsing, shared by every client that follows a watch
 * stream (registry, config). Pure text handling: the caller owns the connection.
 */

/** One dispatched server-sent event. */
export interface SseEvent {
  /** `event:` field, `message` when absent. */
  readonly event: string;
  readonly data: string;
  /** The last event id seen on the stream so far (ids persist across events, as in EventSource). */
  readonly id: string | undefined;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  /** A `retry:` field: the server's reconnection delay in ms. */
  onRetry?(ms: number): void;
  /** A comment line (`: ping`), without the colon. */
  onComment?(text: string): void;
}

const LF = 10;
const CR = 13;

/**
 * Incremental `text/event-stream` parser following the WHATWG rules: lines end in CRLF, LF or
 * CR (a CRLF split across two chunks counts once); `data:` lines accumulate with `\n`; an empty
 * line dispatches, unless no data was given; `id` containing NUL is ignored; `retry` must be
 * all digits; one leading space after the colon is dropped; a leading BOM is skipped; an
 * unterminated event at the end of the stream is discarded. Chunks may split anywhere.
 */
export class SseParser {
  private readonly parts: string[] = [];
  private afterCr = false;
  private started = false;
  private data = '';
  private hasData = false;
  private eventType = '';
  private lastEventId: string | undefined;

  constructor(private readonly handlers: SseHandlers) {}

  /** Feeds decoded text (decode with `TextDecoder` in stream mode so code points survive splits). */
  push(chunk: string): void {
    let text = chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    if (this.afterCr && text.length > 0) {
      this.afterCr = false;
      if (text.charCodeAt(0) === LF) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      let line = text.slice(start, i);
      if (this.parts.length > 0) {
        this.parts.push(line);
        line = this.parts.join('');
        this.parts.length = 0;
      }
      this.line(line);
      if (c === CR) {
        if (i + 1 === text.length) this.afterCr = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      start = i + 1;
    }
    if (start < text.length) this.parts.push(text.slice(start));
  }

  /** The id a reconnect should send as `Last-Event-ID`. */
  get lastId(): string | undefined {
    return this.lastEventId;
  }

  /** Forgets a partial event and line (the connection dropped); keeps the last event id. */
  reset(): void {
    this.parts.length = 0;
    this.afterCr = false;
    this.started = false;
    this.data = '';
    this.hasData = false;
    this.eventType = '';
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.handlers.onComment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data = this.hasData ? `${this.data}\n${value}` : value;
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
      // unknown fields are ignored
    }
  }

  private dispatch(): void {
    const { hasData, data } = this;
    const event = this.eventType || 'message';
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    if (!hasData) return;
    this.handlers.onEvent({ event, data, id: this.lastEventId });
  }
}
