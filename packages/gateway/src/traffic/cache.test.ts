import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { ResponseCache } from './cache.js';

const get = (url: string, headers: Record<string, string> = {}) => ({ method: 'GET', url, headers });
const body = (text: string) => Buffer.from(text);

function cache(config: Partial<ConstructorParameters<typeof ResponseCache>[0]> = {}) {
  const clock = new ManualClock(0);
  return { clock, cache: new ResponseCache({ ttl: '60s', ...config }, 'catalog', { clock }) };
}

describe('ResponseCache', () => {
  it('serves a stored GET response with Age and x-cache: HIT until its ttl runs out', () => {
    const { clock, cache: c } = cache();
    expect(c.lookup(get('/items'))).toBeUndefined();
    expect(
      c.store(
        get('/items'),
        200,
        { 'content-type': 'application/json', connection: 'keep-alive' },
        body('[1]'),
      ),
    ).toBe(true);
    clock.advance(12_500);
    expect(c.lookup(get('/items'))).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json', age: '12', 'x-cache': 'HIT' },
      body: body('[1]'),
    });
    expect(c.lookup({ ...get('/items'), method: 'HEAD' })?.status).toBe(200);
    clock.advance(47_500);
    expect(c.lookup(get('/items'))).toBeUndefined();
    expect(c.stats()).toMatchObject({ hits: 2, misses: 2, stores: 1 });
  });

  it('keeps no header for one hop only: hop-by-hop, Proxy-*, and those Connection names', () => {
    const { cache: c } = cache();
    const headers = {
      connection: 'x-drop',
      'x-drop': '1',
      'keep-alive': 'timeout=5',
      'proxy-status': 'upstream; error=none',
      'proxy-x': 'secret',
      'x-kept': 'yes',
    };
    expect(c.store(get('/hop'), 200, headers, body('hop'))).toBe(true);
    expect(c.lookup(get('/hop'))?.headers).toEqual({ 'x-kept': 'yes', age: '0', 'x-cache': 'HIT' });
  });

  it('keeps a body in a block of its own, not a view into a larger one', () => {
    const { cache: c } = cache();
    const slab = Buffer.from('....body....');
    const view = slab.subarray(4, 8);
    expect(c.store(get('/view'), 200, {}, view)).toBe(true);
    const stored = c.lookup(get('/view'))!.body;
    expect(stored.toString()).toBe('body');
    expect(stored.buffer.byteLength).toBe(4);
    // A body that is its whole block is kept as it is.
    const whole = Buffer.alloc(8, 1);
    c.store(get('/whole'), 200, {}, whole);
    expect(c.lookup(get('/whole'))!.body).toBe(whole);
  });

  it('keeps upstream headers named like Object members (__proto__, constructor) on a hit', () => {
    const { cache: c } = cache();
    // As the response parser gives them: own properties, repeated ones as arrays.
    const headers = JSON.parse('{"__proto__": "a", "constructor": ["b", "c"], "x-kind": "d"}');
    expect(c.store(get('/odd'), 200, headers, body('x'))).toBe(true);
    const hit = c.lookup(get('/odd'))!;
    expect(Object.entries(hit.headers)).toEqual([
      ['__proto__', 'a'],
      ['constructor', ['b', 'c']],
      ['x-kind', 'd'],
      ['age', '0'],
      ['x-cache', 'HIT'],
    ]);
    const array = JSON.parse('{"__proto__": ["a", "b"], "x-kind": "d"}');
    expect(c.store(get('/array'), 200, array, body('x'))).toBe(true);
    expect(c.lookup(get('/array'))!.headers).toMatchObject({ ['__proto__']: ['a', 'b'], 'x-kind': 'd' });
    expect(Object.keys(c.lookup(get('/array'))!.headers)).toContain('__proto__');
  });

  it('prefers s-maxage over max-age over the route ttl, minus the age the response arrived with', () => {
    const { clock, cache: c } = cache();
    c.store(get('/a'), 200, { 'cache-control': 'max-age=10, s-maxage=20' }, body('a'));
    c.store(get('/b'), 200, { 'cache-control': 'max-age=10' }, body('b'));
    c.store(get('/c'), 200, { 'cache-control': 'max-age=10', age: '4' }, body('c'));
    clock.advance(6_000);
    expect(c.lookup(get('/c'))).toBeUndefined();
    expect(c.lookup(get('/b'))?.headers.age).toBe('6');
    clock.advance(4_000);
    expect(c.lookup(get('/b'))).toBeUndefined();
    expect(c.lookup(get('/a'))).toBeDefined();
  });

  it('does not store no-store, private, no-cache, Set-Cookie, Vary: * or uncacheable statuses', () => {
    const { cache: c } = cache();
    const refused: [number, Record<string, string>][] = [
      [200, { 'cache-control': 'no-store' }],
      [200, { 'cache-control': 'private, max-age=60' }],
      [200, { 'cache-control': 'no-cache' }],
      [200, { 'cache-control': 'max-age=0' }],
      [200, { 'set-cookie': 'session=1' }],
      [200, { vary: 'Accept, *' }],
      [500, {}],
      [201, {}],
    ];
    for (const [status, headers] of refused)
      expect(c.store(get('/x'), status, headers, body('x'))).toBe(false);
    expect(c.store({ ...get('/x'), method: 'POST' }, 200, {}, body('x'))).toBe(false);
    expect(c.lookup(get('/x'))).toBeUndefined();
  });

  it('keeps one entry per value of the request headers named in Vary', () => {
    const { cache: c } = cache();
    c.store(get('/page', { 'accept-language': 'en' }), 200, { vary: 'Accept-Language' }, body('hello'));
    c.store(get('/page', { 'accept-language': 'fr' }), 200, { vary: 'Accept-Language' }, body('bonjour'));
    expect(c.lookup(get('/page', { 'accept-language': 'fr' }))?.body.toString()).toBe('bonjour');
    expect(c.lookup(get('/page', { 'accept-language': 'en' }))?.body.toString()).toBe('hello');
    expect(c.lookup(get('/page', { 'accept-language': 'de' }))).toBeUndefined();
  });

  it('stores answers to authorized requests only when public, or per caller with identity', () => {
    const auth = { authorization: 'Bearer t' };
    const shared = cache().cache;
    expect(shared.store(get('/me', auth), 200, {}, body('x'))).toBe(false);
    expect(shared.store(get('/me', auth), 200, { 'cache-control': 'public, max-age=60' }, body('x'))).toBe(
      true,
    );

    const own = cache({ identity: true }).cache;
    own.store(get('/me', auth), 200, {}, body('alice'), { sub: 'alice' });
    own.store(get('/me', auth), 200, {}, body('bob'), { sub: 'bob' });
    expect(own.lookup(get('/me', auth), { sub: 'alice' })?.body.toString()).toBe('alice');
    expect(own.lookup(get('/me', auth), { sub: 'bob' })?.body.toString()).toBe('bob');
    expect(own.lookup(get('/me', auth), { sub: 'carol' })).toBeUndefined();
  });

  it('stays within its byte bound, evicting the least recently used responses', () => {
    const { cache: c } = cache({ maxBytes: '4kb', maxEntryBytes: '2kb' });
    const kb = Buffer.alloc(1024);
    expect(c.store(get('/big'), 200, {}, Buffer.alloc(3000))).toBe(false);
    for (const path of ['/1', '/2', '/3']) c.store(get(path), 200, {}, kb);
    c.lookup(get('/1')); // now the most recently used
    c.store(get('/4'), 200, {}, kb);
    expect(c.lookup(get('/1'))).toBeDefined();
    expect(c.lookup(get('/2'))).toBeUndefined();
    expect(c.stats().bytes).toBeLessThanOrEqual(4096);
    expect(c.stats().evictions).toBeGreaterThan(0);
  });

  it('fails at construction naming the field and the value', () => {
    expect(() => new ResponseCache({ ttl: 'a while' }, 'r')).toThrow('cache.ttl should be a duration');
    expect(() => new ResponseCache({ ttl: '1s', maxBytes: '1 tb' }, 'r')).toThrow(
      /^cache\.maxBytes .*"1 tb"$/,
    );
    expect(() => new ResponseCache({ ttl: '1s', maxBytes: '1kb', maxEntryBytes: '1mb' }, 'r')).toThrow(
      'cache.maxEntryBytes should be at most maxBytes (1024), got "1mb"',
    );
  });
});
