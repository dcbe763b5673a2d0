import { type Clock, type Logger, type SseEvent, SseParser, sleep } from '@flotilla/core';
import { type BackoffOptions, ExponentialBackoff } from '@flotilla/resilience';
import { RegistryRequestError } from './errors.js';
import type { ChangeReason, Instance } from './model.js';

const CHANGE_EVENTS = new Set<string>(['registered', 'updated', 'deregistered', 'evicted']);

export interface WatchOptions {
  registryUrl: string;
  /** Watch only these services; default every service. */
  services?: readonly string[];
  /** Reconnect delays; `initialDelayMs` defaults to the server's `retry:` hint (1 s), else 250 ms. */
  reconnect?: BackoffOptions;
  /** A stream silent for this long is assumed dead and reopened (the registry pings every 15 s). Default 45 s. */
  idleTimeoutMs?: number;
  clock: Clock;
  logger: Logger;
  fetch: typeof fetch;
  random?: () => number;
}

export interface WatchHandlers {
  snapshot(revision: number, instances: readonly Instance[]): void;
  change(revision: number, reason: Exclude<ChangeReason, 'snapshot'>, instance: Instance): void;
  connected(): void;
  disconnected(error: unknown): void;
}

/**
 * Follows `GET /v1/watch` for as long as it runs. Reconnects with exponential backoff and full
 * jitter (from @flotilla/resilience) and sends `Last-Event-ID`, so the registry replays exactly
 * what was missed — or sends a fresh snapshot, which replaces the local copy, when it cannot
 * (log pruned, registry restarted: ids name the registry's revision history, so the registry
 * itself recognises an id it cannot resume from). The id is opaque: it is sent back as received,
 * never parsed. Between connections nothing is cleared: callers keep serving the last known set.
 */
export class Watch {
  private readonly closing = new AbortController();
  private current: AbortController | undefined;
  private running: Promise<void> | undefined;
  private serverRetryMs: number | undefined;
  private connected = false;
  private lastActivity = 0;

  constructor(
    private readonly options: WatchOptions,
    private readonly handlers: WatchHandlers,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    this.running ??= this.loop();
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.current?.abort();
    await this.running;
  }

  private url(): string {
    const url = new URL('/v1/watch', this.options.registryUrl);
    for (const service of this.options.services ?? []) url.searchParams.append('service', service);
    return url.href;
  }

  private async loop(): Promise<void> {
    const { clock, logger } = this.options;
    let lastId: string | undefined;
    let failures = 0;
    while (!this.closing.signal.aborted) {
      let progressed = false;
      const parser = new SseParser({
        onEvent: (event) => {
          if (this.handle(event)) progressed = true;
        },
        onRetry: (ms) => {
          this.serverRetryMs = ms;
        },
      });
      try {
        await this.connectOnce(parser, lastId, () => {
          if (!this.connected) {
            this.connected = true;
            this.handlers.connected();
          }
        });
        throw new RegistryRequestError('The registry ended the watch stream', { retryable: true });
      } catch (error) {
        if (parser.lastId) lastId = parser.lastId;
        if (this.connected) {
          this.connected = false;
          // Closing ends the stream on purpose: no lost watch to report.
          if (!this.closing.signal.aborted) this.handlers.disconnected(error);
        }
        if (this.closing.signal.aborted) break;
        failures = progressed ? 1 : failures + 1;
        const delay = this.backoff().delay(failures);
        logger.debug({ err: error, delayMs: delay, attempt: failures }, 'registry watch lost; reconnecting');
        try {
          await sleep(delay, this.closing.signal, clock);
        } catch {
          break;
        }
      }
    }
  }

  private backoff(): ExponentialBackoff {
    const options = this.options.reconnect ?? {};
    return new ExponentialBackoff(
      { ...options, initialDelayMs: options.initialDelayMs ?? this.serverRetryMs ?? 250 },
      this.options.random,
    );
  }

  /** One connection: resolves when the server ends the stream, rejects on any failure. */
  private async connectOnce(
    parser: SseParser,
    lastId: string | undefined,
    opened: () => void,
  ): Promise<void> {
    const controller = new AbortController();
    this.current = controller;
    if (this.closing.signal.aborted) controller.abort();
    const idleTimeoutMs = this.options.idleTimeoutMs ?? 45_000;
    const { clock } = this.options;
    this.lastActivity = clock.now();
    let idleTimer: object | undefined;
    const checkIdle = () => {
      if (clock.now() - this.lastActivity >= idleTimeoutMs) {
        controller.abort(new RegistryRequestError(`No data on the watch stream for ${idleTimeoutMs} ms`));
      } else {
        idleTimer = clock.setTimeout(checkIdle, idleTimeoutMs / 3);
      }
    };
    idleTimer = clock.setTimeout(checkIdle, idleTimeoutMs / 3);
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (lastId) headers['last-event-id'] = lastId;
      const response = await this.options.fetch(this.url(), { headers, signal: controller.signal });
      if (!response.ok || !response.body) {
        const body = await response.text().catch(() => '');
        throw new RegistryRequestError(`Watch answered ${response.status}: ${body.slice(0, 200)}`, {
          status: response.status,
          retryable: true,
        });
      }
      opened();
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        this.lastActivity = clock.now();
        parser.push(decoder.decode(chunk, { stream: true }));
      }
    } catch (error) {
      throw controller.signal.aborted && controller.signal.reason !== undefined
        ? controller.signal.reason
        : error;
    } finally {
      if (idleTimer) clock.clearTimeout(idleTimer);
      if (this.current === controller) this.current = undefined;
    }
  }

  /** Applies one event; true when it was registry state (snapshot or change). */
  private handle(event: SseEvent): boolean {
    if (event.event === 'snapshot') {
      const body = JSON.parse(event.data) as { revision: number; instances: Instance[] };
      this.handlers.snapshot(body.revision, body.instances);
      return true;
    }
    if (CHANGE_EVENTS.has(event.event)) {
      const body = JSON.parse(event.data) as { revision: number; instance: Instance };
      this.handlers.change(body.revision, event.event as Exclude<ChangeReason, 'snapshot'>, body.instance);
      return true;
    }
    return false;
  }
}
