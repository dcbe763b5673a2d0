import type { IncomingHttpHeaders } from 'node:http';
import type { Claims } from '../auth/outcome.js';
import type { RequestLike } from '../auth/request.js';
import type { ResponseCache } from '../traffic/cache.js';

/**
 * A cache miss on the fast-path front: a copy of the upstream's body as it is relayed, for the
 * route's cache once the answer ended, as the node:http path's body tap keeps one.
 */
export class CacheFill {
  private chunks: Buffer[] | undefined = [];
  private bytes = 0;

  constructor(
    private readonly cache: ResponseCache,
    private readonly req: RequestLike,
    private readonly claims: Claims | undefined,
  ) {}

  /** Keeps `chunk` (the pool hands over chunks of its own); nothing more past the cache's entry limit. */
  add(chunk: Buffer): void {
    const chunks = this.chunks;
    if (chunks === undefined) return;
    this.bytes += chunk.length;
    if (this.bytes > this.cache.maxEntryBytes) this.chunks = undefined;
    else chunks.push(chunk);
  }

  /** The answer ended whole: the cache stores it if HTTP caching rules allow (`ResponseCache.store`). */
  store(status: number, headers: IncomingHttpHeaders): void {
    const chunks = this.chunks;
    if (chunks === undefined) return;
    this.chunks = undefined;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    this.cache.store(this.req, status, headers, body, this.claims);
  }
}
