import type { ServerResponse } from 'node:http';
import { errorToProblem } from '@flotilla/core';
import type { ServerContext } from './context.js';
import type { ResolveRequest } from './resolve.js';
import { nativeBody } from './views.js';

/** One open watch stream. */
interface Watcher {
  request: ResolveRequest;
  decrypt: boolean;
  res: ServerResponse;
  /** Revision of the last event sent (config or problem). */
  sent: string | undefined;
}

/**
 * Server-sent events for `GET /v1/watch/{service}/{env}`. When a source changes, every open
 * stream is re-resolved (resolutions are cached, so watchers of the same service share one) and
 * gets an event only if its revision moved: `config` with the `ResolvedConfig` document, or
 * `problem` with problem details when its secrets cannot be decrypted. Comment lines keep idle
 * connections (and the proxies between) alive.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly offChange: () => void;

  constructor(
    private readonly ctx: ServerContext,
    heartbeatMs = 15_000,
  ) {
    this.offChange = ctx.resolver.onChange(() => this.publish());
    this.heartbeat = setInterval(() => {
      for (const w of this.watchers) w.res.write(': ping\n\n');
    }, heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.watchers.size;
  }

  /**
   * Starts a stream on `res`. `lastEventId` (the client's revision, from `Last-Event-ID`)
   * suppresses the first event when the client is already up to date.
   */
  open(
    res: ServerResponse,
    request: ResolveRequest,
    decrypt: boolean,
    lastEventId: string | undefined,
  ): void {
    // The connection closes with the stream: at shutdown, a stream ended by `close()` must not
    // leave a keep-alive socket behind for the server to wait on.
    res.shouldKeepAlive = false;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    const watcher: Watcher = { request, decrypt, res, sent: lastEventId || undefined };
    this.watchers.add(watcher);
    this.ctx.metrics.watchers.set(this.watchers.size);
    res.on('close', () => {
      this.watchers.delete(watcher);
      this.ctx.metrics.watchers.set(this.watchers.size);
    });
    this.push(watcher);
  }

  /** Ends every stream (clients reconnect, e.g. to another replica) and stops. */
  close(): void {
    this.offChange();
    clearInterval(this.heartbeat);
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.ctx.metrics.watchers.set(0);
  }

  private publish(): void {
    for (const w of this.watchers) this.push(w);
  }

  private push(w: Watcher): void {
    const resolution = this.ctx.resolver.resolve(w.request);
    if (resolution.revision === w.sent) return;
    w.sent = resolution.revision;
    let event: string;
    let data: string;
    try {
      data = nativeBody(resolution, w.decrypt, this.ctx.keys);
      event = 'config';
    } catch (error) {
      data = JSON.stringify(errorToProblem(error));
      event = 'problem';
    }
    this.ctx.metrics.pushes.inc({ kind: event });
    w.res.write(`id: ${resolution.revision}\nevent: ${event}\ndata: ${data}\n\n`);
  }
}
