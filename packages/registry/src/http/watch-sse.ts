import type { ServerResponse } from 'node:http';
import { compileValidator, type Logger } from '@flotilla/core';
import type { FastifyInstance } from 'fastify';
import type { RegistryMetrics } from '../metrics.js';
import type { Change, Instance } from '../model.js';
import type { Registry, RegistryEvent } from '../registry.js';
import { ServiceNameSchema } from '../schemas.js';
import { eventId, isEventId, parseEventId, type ResumePoint } from './event-id.js';
import { fieldError } from './problems.js';

const serviceName = compileValidator(ServiceNameSchema, '/query/service');

/** A watcher that has this much unsent output is too slow: it is dropped and resumes later. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** One open watch stream. */
class Watcher {
  private pending: RegistryEvent[] | undefined = [];
  private lastRevision = -1;
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly registry: Registry,
    private readonly res: ServerResponse,
    private readonly services: ReadonlySet<string> | undefined,
  ) {}

  /**
   * Subscribes first, then catches up (snapshot, or the changes after `resumeFrom`), then
   * replays what arrived meanwhile, skipping anything already sent: no gap, no duplicate.
   */
  async start(resumeFrom: ResumePoint | undefined): Promise<void> {
    this.unsubscribe = this.registry.subscribe((event) => {
      if (this.pending) this.pending.push(event);
      else this.handle(event);
    });
    let missed: Change[] | undefined;
    if (resumeFrom !== undefined)
      missed = await this.registry.changesSince(resumeFrom.epoch, resumeFrom.revision);
    if (missed === undefined || resumeFrom === undefined) {
      this.sendSnapshot();
    } else {
      this.lastRevision = resumeFrom.revision;
      for (const change of missed) this.sendChange(change);
    }
    const pending = this.pending ?? [];
    this.pending = undefined;
    for (const event of pending) this.handle(event);
  }

  ping(): void {
    this.write(': ping\n\n');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (!this.res.writableEnded) this.res.end();
  }

  private handle(event: RegistryEvent): void {
    if (event.type === 'change') this.sendChange(event.change);
    else if (event.type === 'resync') this.sendSnapshot();
    else this.write(`event: self-preservation\ndata: ${JSON.stringify(event.status)}\n\n`);
  }

  private matches(instance: Instance): boolean {
    return this.services === undefined || this.services.has(instance.service);
  }

  private sendChange(change: Change): void {
    if (change.revision <= this.lastRevision) return;
    this.lastRevision = change.revision;
    if (!this.matches(change.instance)) return;
    this.write(
      `id: ${eventId(this.registry.epoch, change.revision)}\nevent: ${change.type}\ndata: ${JSON.stringify(change)}\n\n`,
    );
  }

  private sendSnapshot(): void {
    const snapshot = this.registry.snapshot();
    this.lastRevision = snapshot.revision;
    const data = {
      revision: snapshot.revision,
      instances: snapshot.instances.filter((i) => this.matches(i)),
      selfPreservation: this.registry.selfPreservation,
    };
    this.write(
      `id: ${eventId(snapshot.epoch, snapshot.revision)}\nevent: snapshot\ndata: ${JSON.stringify(data)}\n\n`,
    );
  }

  private write(text: string): void {
    if (this.closed || this.res.writableEnded) return;
    if (this.res.writableLength > MAX_BUFFERED_BYTES) {
      // It will reconnect with Last-Event-ID and get what it missed (or a snapshot).
      this.res.destroy();
      this.close();
      return;
    }
    this.res.write(text);
  }
}

/** Every open watch stream of one server, for heartbeats, metrics and shutdown. */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly registry: Registry,
    readonly logger: Logger,
    private readonly heartbeatMs: number,
    private readonly metrics?: RegistryMetrics,
  ) {}

  get size(): number {
    return this.watchers.size;
  }

  add(watcher: Watcher): void {
    this.watchers.add(watcher);
    this.metrics?.watchers.set(this.watchers.size);
    if (!this.timer && this.heartbeatMs > 0) {
      this.timer = setInterval(() => {
        for (const w of this.watchers) w.ping();
      }, this.heartbeatMs);
      this.timer.unref();
    }
  }

  delete(watcher: Watcher): void {
    this.watchers.delete(watcher);
    this.metrics?.watchers.set(this.watchers.size);
    if (this.watchers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Ends every stream (server shutdown); clients reconnect elsewhere with Last-Event-ID. */
  closeAll(): void {
    for (const w of [...this.watchers]) {
      w.close();
      this.delete(w);
    }
  }
}

/**
 * `?since=` (or else `Last-Event-ID`) as a resume point. A malformed header, a bare revision or
 * an id of another epoch all mean "start with a snapshot"; only a malformed `since` is refused.
 */
function resumePoint(header: unknown, since: unknown): ResumePoint | undefined {
  if (since !== undefined) {
    if (typeof since !== 'string' || !isEventId(since)) {
      throw fieldError(
        '/query/since',
        `must be an event id of this stream (<epoch>:<revision>), got "${String(since)}"`,
      );
    }
    return parseEventId(since);
  }
  return typeof header === 'string' ? parseEventId(header.trim()) : undefined;
}

/** `GET /v1/watch[?service=a&service=b][&since=<event id>]`: the server-sent-events stream of changes. */
export function registerWatch(app: FastifyInstance, hub: WatchHub): void {
  app.get('/v1/watch', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    let services: Set<string> | undefined;
    if (query.service !== undefined) {
      const names = (Array.isArray(query.service) ? query.service : [query.service]).flatMap((s) =>
        String(s).split(','),
      );
      services = new Set(names.map((n) => serviceName.assert(n)));
    }
    const resumeFrom = resumePoint(request.headers['last-event-id'], query.since);

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    const watcher = new Watcher(hub.registry, res, services);
    hub.add(watcher);
    const done = () => {
      watcher.close();
      hub.delete(watcher);
      // A stream is never reused: drop the connection, or a half-closed one holds up shutdown.
      res.socket?.destroy();
    };
    // The response's close (not the request's, which fires once a GET is read) means the client left.
    res.on('close', done);
    res.on('error', done);
    try {
      await watcher.start(resumeFrom);
    } catch (error) {
      hub.logger.error({ err: error }, 'watch stream failed to start');
      res.destroy();
      done();
    }
  });
}
