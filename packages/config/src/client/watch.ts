import { type Clock, type FlotillaError, type Problem, SseParser, sleep, systemClock } from '@flotilla/core';
import { EVENT_STREAM, type ResolvedConfig } from '../wire.js';
import { authHeaders, type Endpoint, endpointUrl, problemToError } from './http.js';

/** What a watch stream reports. */
export interface WatchHandlers {
  /** A resolved document (may equal the current one after a reconnect). */
  config(document: ResolvedConfig): void;
  /** The server could not serve this config (e.g. a secret fails to decrypt). */
  problem(error: FlotillaError): void;
  connected(): void;
  disconnected(error: Error): void;
}

export interface WatchOptions {
  /** Revision the client has; the server skips sending it again. */
  lastEventId: () => string | undefined;
  /** Reconnect backoff bounds; default 250 ms → 5 s. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** Reconnect when nothing (not even a keep-alive) arrived for this long; default 45 s. */
  idleTimeoutMs?: number;
  clock?: Clock;
}

/**
 * Follows `GET /v1/watch/…` (server-sent events) until stopped, reconnecting with exponential
 * backoff and jitter. Each reconnect sends `Last-Event-ID`, and the server answers with the
 * current document if it moved, so changes made while disconnected are never missed.
 */
export function watchConfig(
  endpoint: Endpoint,
  handlers: WatchHandlers,
  options: WatchOptions,
): { stop(): void } {
  const stopper = new AbortController();
  const clock = options.clock ?? systemClock;
  const minDelay = options.minDelayMs ?? 250;
  const maxDelay = options.maxDelayMs ?? 5_000;
  const idleTimeout = options.idleTimeoutMs ?? 45_000;

  const run = async () => {
    let delay = minDelay;
    while (!stopper.signal.aborted) {
      const attempt = new AbortController();
      const onStop = () => attempt.abort();
      stopper.signal.addEventListener('abort', onStop, { once: true });
      let idle = clock.setTimeout(() => attempt.abort(new Error('watch stream idle')), idleTimeout);
      const touch = () => {
        clock.clearTimeout(idle);
        idle = clock.setTimeout(() => attempt.abort(new Error('watch stream idle')), idleTimeout);
      };
      try {
        const last = options.lastEventId();
        const response = await fetch(endpointUrl(endpoint, 'watch'), {
          headers: {
            accept: EVENT_STREAM,
            ...authHeaders(endpoint),
            ...(last ? { 'last-event-id': last } : {}),
          },
          signal: attempt.signal,
        });
        if (!response.ok || !response.body) {
          const body = (await response.json().catch(() => ({}))) as Partial<Problem>;
          throw problemToError(body, response.status);
        }
        delay = minDelay;
        handlers.connected();
        await readEvents(response.body, touch, (event, data) => {
          if (event === 'config') handlers.config(JSON.parse(data) as ResolvedConfig);
          else if (event === 'problem') {
            const p = JSON.parse(data) as Problem;
            handlers.problem(problemToError(p, p.status ?? 500));
          }
        });
        if (!stopper.signal.aborted) handlers.disconnected(new Error('watch stream ended'));
      } catch (error) {
        if (stopper.signal.aborted) break;
        handlers.disconnected(
          attempt.signal.reason instanceof Error ? attempt.signal.reason : (error as Error),
        );
      } finally {
        clock.clearTimeout(idle);
        stopper.signal.removeEventListener('abort', onStop);
      }
      const jittered = delay * (0.8 + Math.random() * 0.4);
      delay = Math.min(maxDelay, delay * 2);
      await sleep(jittered, stopper.signal, clock).catch(() => {});
    }
  };
  void run();
  return { stop: () => stopper.abort() };
}

/** Reads an event stream, calling `onEvent` per event; `touch` marks the stream alive. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  touch: () => void,
  onEvent: (event: string, data: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  // `id:` and `retry:` need nothing here: the client tracks revisions itself.
  const parser = new SseParser({ onEvent: (e) => onEvent(e.event, e.data) });
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    touch();
    parser.push(decoder.decode(chunk, { stream: true }));
  }
}
