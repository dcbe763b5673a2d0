import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorToProblem, Headers, ManualClock, sendProblem } from '@flotilla/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentDeadline,
  DEADLINE_HEADER,
  deadlineFromHeaders,
  deadlineHeaders,
  parseDeadline,
  remainingMs,
  setDeadlineHeader,
  throwIfDeadlineExceeded,
  withDeadline,
} from './deadline.js';
import { DeadlineExceededError } from './errors.js';
import { timeout } from './timeout.js';

describe('deadline header', () => {
  it('is the header named in core conventions', () => {
    expect(DEADLINE_HEADER).toBe(Headers.deadline);
  });

  it('parses integer Unix milliseconds and rejects anything else', () => {
    expect(parseDeadline('1700000000123')).toBe(1_700_000_000_123);
    expect(parseDeadline(' 42 ')).toBe(42);
    for (const bad of ['', 'soon', '-5', '1.5', '1e12', '99999999999999999999'])
      expect(parseDeadline(bad)).toBeUndefined();
    expect(parseDeadline(['10', '10'])).toBe(10);
    expect(parseDeadline(['10', '11'])).toBeUndefined();
    expect(parseDeadline(undefined)).toBeUndefined();
  });

  it('bounds a received deadline by maxMs and defaults a missing one', () => {
    const clock = new ManualClock(1_000);
    expect(deadlineFromHeaders({ [DEADLINE_HEADER]: '1500' }, { clock, maxMs: 10_000 })).toBe(1_500);
    expect(deadlineFromHeaders({ [DEADLINE_HEADER]: '999999' }, { clock, maxMs: 2_000 })).toBe(3_000);
    expect(deadlineFromHeaders({}, { clock, defaultMs: 300 })).toBe(1_300);
    expect(deadlineFromHeaders({}, { clock })).toBeUndefined();
    expect(deadlineFromHeaders(new globalThis.Headers({ [DEADLINE_HEADER]: '7' }), { clock })).toBe(7);
  });

  it('never extends a deadline already on outgoing headers', () => {
    const headers: Record<string, string> = { [DEADLINE_HEADER]: '500' };
    setDeadlineHeader(headers, 900);
    expect(headers[DEADLINE_HEADER]).toBe('500');
    setDeadlineHeader(headers, 400.9);
    expect(headers[DEADLINE_HEADER]).toBe('400');
    expect(deadlineHeaders(undefined)).toEqual({});
  });
});

describe('in-process deadline', () => {
  it('is inherited by nested scopes, which may shorten but never extend it', async () => {
    await withDeadline(5_000, async () => {
      expect(currentDeadline()).toBe(5_000);
      await withDeadline(9_000, async () => {
        await Promise.resolve();
        expect(currentDeadline()).toBe(5_000);
      });
      await withDeadline(3_000, async () => {
        await new Promise((r) => setImmediate(r));
        expect(currentDeadline()).toBe(3_000);
      });
      expect(currentDeadline()).toBe(5_000);
    });
    expect(currentDeadline()).toBeUndefined();
  });

  it('bounds nested policy calls: an inner timeout gets what remains, never more', async () => {
    const clock = new ManualClock(0);
    const outer = timeout(1_000, { clock });
    const inner = timeout(60_000, { clock });
    const seen: (number | undefined)[] = [];
    await withDeadline(800, () =>
      outer.execute(async () => {
        clock.advance(300);
        seen.push(currentDeadline());
        // Implicitly, through AsyncLocalStorage...
        await inner.execute((ctx) => seen.push(ctx.deadline));
        // ...and explicitly, by passing the context.
        await outer.execute((ctx) => seen.push(ctx.deadline));
      }),
    );
    expect(seen).toEqual([800, 800, 800]);
    expect(remainingMs(800, clock)).toBe(500);
  });

  it('propagates a policy timeout shorter than the scope deadline to nested calls', async () => {
    const clock = new ManualClock(0);
    const outer = timeout(100, { clock });
    const inner = timeout(60_000, { clock });
    const seen: (number | undefined)[] = [];
    await withDeadline(10_000, () =>
      outer.execute(async (ctx) => {
        seen.push(ctx.deadline, currentDeadline());
        await inner.execute((c) => seen.push(c.deadline));
      }),
    );
    expect(seen).toEqual([100, 100, 100]);
  });

  it('throws DeadlineExceededError from throwIfDeadlineExceeded once the deadline passed', () => {
    const clock = new ManualClock(100);
    expect(() => throwIfDeadlineExceeded(101, clock)).not.toThrow();
    expect(() => throwIfDeadlineExceeded(100, clock)).toThrow(DeadlineExceededError);
    expect(() => throwIfDeadlineExceeded(undefined, clock)).not.toThrow();
  });
});

describe('deadline across an HTTP hop', () => {
  let server: Server;
  let port = 0;
  const received: {
    header: string | undefined;
    deadline: number | undefined;
    innerDeadline: number | undefined;
  }[] = [];

  beforeAll(async () => {
    // A downstream service: reads the header, runs its work under it with a generous timeout.
    const work = timeout(60_000, { name: 'downstream' });
    server = createServer((req, res) => {
      const deadline = deadlineFromHeaders(req.headers, { maxMs: 30_000 });
      withDeadline(deadline, async () => {
        try {
          const innerDeadline = await work.execute(async (ctx) => ctx.deadline);
          received.push({
            header: req.headers[DEADLINE_HEADER] as string | undefined,
            deadline,
            innerDeadline,
          });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ innerDeadline }));
        } catch (error) {
          sendProblem(res, errorToProblem(error));
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  function call(headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('sends the attempt deadline, and the server runs nested work under exactly that deadline', async () => {
    const client = timeout(5_000, { name: 'upstream' });
    let sent: number | undefined;
    const answer = await client.execute((ctx) => {
      sent = ctx.deadline;
      return call(deadlineHeaders(ctx.deadline));
    });
    expect(answer.status).toBe(200);
    expect(received.at(-1)).toEqual({ header: String(sent), deadline: sent, innerDeadline: sent });
    // Over time, not more: the server's own 60 s timeout did not extend the caller's 5 s.
    expect(answer.body.innerDeadline).toBe(sent);
  });

  it('answers 504 without running the work when the received deadline already passed', async () => {
    const answer = await call({ [DEADLINE_HEADER]: String(Date.now() - 1_000) });
    expect(answer.status).toBe(504);
    expect(answer.body).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
  });

  it('uses the current in-process deadline when forwarding', async () => {
    const deadline = Date.now() + 4_000;
    const answer = await withDeadline(deadline, () => call(deadlineHeaders()));
    expect(answer.body.innerDeadline).toBe(deadline);
  });
});
