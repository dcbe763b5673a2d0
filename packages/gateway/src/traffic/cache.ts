import { type Clock, systemClock } from '@flotilla/core';
import { parseDuration } from '@flotilla/resilience';
import { type Static, Type } from '@sinclair/typebox';
import { badConfig, checkConfig } from '../auth/config.js';
import type { Claims } from '../auth/outcome.js';
import { headerValue, type RequestLike } from '../auth/request.js';
import { connectionTokens, headerObject, isHopByHop } from '../proxy/headers.js';
import { parseCacheControl } from './cache-control.js';
import { LruBytes } from './lru.js';

const Size = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\d+\\s*(b|kb|mb|gb)?$' })]);

/** The `cache` section of a route (GET responses only). */
export const CacheSchema = Type.Object(
  {
    /** Freshness when the upstream sends no `s-maxage`/`max-age`. */
    ttl: Type.Union([Type.String(), Type.Number({ minimum: 0 })]),
    /** Memory bound of this route's cache, e.g. `64mb`. Default `32mb`. */
    maxBytes: Type.Optional(Size),
    /** Largest response stored, e.g. `1mb`. Default `1mb` (or maxBytes when smaller). */
    maxEntryBytes: Type.Optional(Size),
    /** Keep one copy per caller (`sub`), for responses that differ by who asks. */
    identity: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

/** Configuration of a route's response cache. */
export type CacheConfig = Static<typeof CacheSchema>;

/** A response headers map as node:http and undici give them. */
export type ResponseHeaders = Record<string, string | string[] | number | undefined>;

/** A stored response, ready to send: its headers include `age` and `x-cache: HIT`. */
export interface CachedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** Header to set on responses that went upstream on a cacheable route. */
export const CACHE_MISS_HEADERS = { 'x-cache': 'MISS' } as const;

/** Counters for metrics. */
export interface CacheStats {
  hits: number;
  misses: number;
  stores: number;
  evictions: number;
  entries: number;
  bytes: number;
}

interface Entry {
  size: number;
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  storedAt: number;
  /** Age the response already had when it arrived (upstream `Age`), in seconds. */
  initialAge: number;
  expiresAt: number;
}

/** Which request headers the responses for a URL vary on (a tiny entry in the same LRU). */
interface VaryEntry {
  size: number;
  names: string[];
}

/** RFC 9111 §3 / RFC 9110 §15.1: status codes cacheable by default. */
const CACHEABLE_STATUS = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
/** Not stored: recomputed on a hit, or per-response (hop-by-hop headers go by `isHopByHop`). */
const UNSTORED_HEADERS = new Set(['age', 'x-cache', 'set-cookie']);

/**
 * A route's cache of GET responses, in memory, bounded by bytes. It behaves as a shared cache
 * (RFC 9111): `no-store`, `private`, `no-cache` and `Set-Cookie` responses are not stored,
 * `s-maxage` wins over `max-age` wins over the route's ttl, `Vary` splits entries by the
 * request headers it names and `Vary: *` is not stored. Request directives are ignored, as
 * CDNs do, so a client cannot force load onto the upstream.
 */
export class ResponseCache {
  private readonly lru: LruBytes<Entry | VaryEntry>;
  private readonly ttlMs: number;
  /** Largest body stored; the data path stops copying a body past it. */
  readonly maxEntryBytes: number;
  private readonly identity: boolean;
  private readonly clock: Clock;
  private hits = 0;
  private misses = 0;
  private stores = 0;

  constructor(
    config: CacheConfig,
    readonly route: string,
    options: { clock?: Clock; field?: string } = {},
  ) {
    const field = options.field ?? 'cache';
    checkConfig(CacheSchema, config, field);
    this.ttlMs = parseDuration(config.ttl, `${field}.ttl`);
    const maxBytes = parseSize(config.maxBytes ?? '32mb');
    this.maxEntryBytes =
      config.maxEntryBytes === undefined ? Math.min(1024 ** 2, maxBytes) : parseSize(config.maxEntryBytes);
    if (this.maxEntryBytes > maxBytes) {
      badConfig(`${field}.maxEntryBytes`, `at most maxBytes (${maxBytes})`, config.maxEntryBytes);
    }
    this.lru = new LruBytes(maxBytes);
    this.identity = config.identity ?? false;
    this.clock = options.clock ?? systemClock;
  }

  /** Whether the data path should consult the cache and buffer the upstream body. */
  applies(req: RequestLike): boolean {
    return req.method === 'GET' || req.method === 'HEAD';
  }

  /** A fresh stored response for the request, or undefined (then go upstream and `store`). */
  lookup(req: RequestLike, claims?: Claims): CachedResponse | undefined {
    if (!this.applies(req)) return undefined;
    const primary = this.primaryKey(req, claims);
    const vary = this.lru.get(primary) as VaryEntry | undefined;
    const entry = vary && (this.lru.get(variantKey(primary, vary.names, req)) as Entry | undefined);
    const now = this.clock.now();
    if (entry === undefined || now >= entry.expiresAt) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    const age = entry.initialAge + Math.floor((now - entry.storedAt) / 1000);
    return {
      status: entry.status,
      headers: { ...entry.headers, age: String(age), 'x-cache': 'HIT' },
      body: entry.body,
    };
  }

  /** Stores an upstream response when HTTP caching rules allow it; true when stored. */
  store(req: RequestLike, status: number, headers: ResponseHeaders, body: Buffer, claims?: Claims): boolean {
    if (req.method !== 'GET' || !CACHEABLE_STATUS.has(status)) return false;
    if (body.length > this.maxEntryBytes) return false;
    const cc = parseCacheControl(headers['cache-control']);
    if (cc.noStore || cc.noCache || cc.private || headers['set-cookie'] !== undefined) return false;
    // RFC 9111 §3.5: a shared cache stores answers to authorized requests only when told it may,
    // unless each caller has entries of their own.
    if (!this.identity && req.headers.authorization !== undefined && !cc.public && cc.sMaxAge === undefined) {
      return false;
    }
    const names = varyNames(headers.vary);
    if (names === '*') return false;
    const initialAge = Math.max(0, Number.parseInt(String(headers.age ?? '0'), 10) || 0);
    const lifetimeMs =
      (cc.sMaxAge ?? cc.maxAge) !== undefined ? (cc.sMaxAge ?? cc.maxAge)! * 1000 : this.ttlMs;
    const freshMs = lifetimeMs - initialAge * 1000;
    if (freshMs <= 0) return false;
    // Inherits nothing: an upstream header named `__proto__` or `constructor` is kept as a header.
    const kept = headerObject<Record<string, string | string[]>>();
    // RFC 9111 §3.1: no header for one hop only (hop-by-hop, `Proxy-*`, those `Connection`
    // names), which a miss does not relay either.
    const hopOnly = connectionTokens(headers.connection as string | string[] | undefined);
    let headerBytes = 0;
    for (const [name, value] of Object.entries(headers)) {
      const lower = name.toLowerCase();
      if (value === undefined || UNSTORED_HEADERS.has(lower) || isHopByHop(lower, hopOnly)) continue;
      kept[lower] = typeof value === 'number' ? String(value) : value;
      headerBytes += name.length + String(value).length;
    }
    const now = this.clock.now();
    const primary = this.primaryKey(req, claims);
    const key = variantKey(primary, names, req);
    this.lru.set(primary, { size: primary.length + names.join().length + 64, names });
    // A view into a larger block (Node's 8 KiB buffer pool, a socket read) would keep all of it
    // alive for as long as the entry lives, unseen by the byte bound: an entry owns its bytes.
    const own = body.byteLength === body.buffer.byteLength ? body : ownCopy(body);
    const stored = this.lru.set(key, {
      size: body.length + headerBytes + key.length + 128,
      status,
      headers: kept,
      body: own,
      storedAt: now,
      initialAge,
      expiresAt: now + freshMs,
    });
    if (stored) this.stores++;
    return stored;
  }

  stats(): CacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      stores: this.stores,
      evictions: this.lru.evictions,
      entries: this.lru.count,
      bytes: this.lru.bytes,
    };
  }

  private primaryKey(req: RequestLike, claims: Claims | undefined): string {
    const who = this.identity ? `\0${typeof claims?.sub === 'string' ? claims.sub : ''}` : '';
    return `${req.url ?? '/'}${who}`;
  }
}

/** The varied header names of a response, lowercased and sorted, or `*`. */
function varyNames(vary: ResponseHeaders[string]): string[] | '*' {
  const text = Array.isArray(vary) ? vary.join(',') : vary === undefined ? '' : String(vary);
  const names = text
    .split(',')
    .map((n) => n.trim().toLowerCase())
    .filter(Boolean);
  if (names.includes('*')) return '*';
  return [...new Set(names)].sort();
}

function variantKey(primary: string, names: readonly string[], req: RequestLike): string {
  let key = `${primary}\0v`;
  for (const name of names) key += `\0${name}=${headerValue(req, name) ?? ''}`;
  return key;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Bytes from a size like `64mb` or a number. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(value.trim())!;
  return Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!;
}

/** `body`'s bytes in a block of their own (not a view into a larger one). */
function ownCopy(body: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}
