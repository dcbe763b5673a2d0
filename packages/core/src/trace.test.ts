import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { writeHex } from './hex.js';
import { formatTraceparent, newTraceparent, parseTraceparent, randomHex } from './trace.js';

describe('trace ids', () => {
  it('writes hex as Buffer does, at the offset given, for every byte value', () => {
    const bytes = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(64)]);
    const text = Buffer.alloc(2 + bytes.length * 2, '.');
    writeHex(text, 1, bytes, 0, bytes.length);
    expect(text.toString('latin1')).toBe(`.${bytes.toString('hex')}.`);
    const part = Buffer.alloc(6, '.');
    writeHex(part, 1, bytes, 254, 256);
    expect(part.toString('latin1')).toBe('.feff.');
  });

  it('starts new sampled traces with random trace and span ids', () => {
    const headers = Array.from({ length: 1000 }, () => newTraceparent());
    expect(new Set(headers).size).toBe(headers.length);
    for (const header of headers) {
      const parsed = parseTraceparent(header);
      expect(parsed, header).toBeDefined();
      expect(header).toBe(formatTraceparent(parsed!.traceId, parsed!.parentId, '01'));
    }
    // Every hex position varies: no digit is left from the template or written twice.
    for (const at of [3, 34, 36, 51]) expect(new Set(headers.map((h) => h[at])).size).toBeGreaterThan(8);
  });

  it('gives random hex of the length asked, across pool refills', () => {
    const all = Array.from({ length: 600 }, () => randomHex(16));
    expect(all.every((h) => /^[0-9a-f]{32}$/.test(h))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
  });

  it('parses a traceparent, refusing version ff, zero ids and extra fields on version 00', () => {
    const trace = 'a'.repeat(32);
    const span = 'b'.repeat(16);
    expect(parseTraceparent(`00-${trace}-${span}-01`)).toEqual({
      traceId: trace,
      parentId: span,
      flags: '01',
    });
    expect(parseTraceparent(`01-${trace}-${span}-00-later`)).toMatchObject({ flags: '00' });
    for (const bad of [
      `ff-${trace}-${span}-01`,
      `00-${'0'.repeat(32)}-${span}-01`,
      `00-${trace}-${'0'.repeat(16)}-01`,
      `00-${trace}-${span}-01-more`,
      `00-${trace.toUpperCase()}-${span}-01`,
      undefined,
    ])
      expect(parseTraceparent(bad)).toBeUndefined();
  });
});
