import { randomFillSync } from 'node:crypto';
import { UUID } from 'uuidv7';
import { describe, expect, it } from 'vitest';
import { idText, idTime, isId, newId } from './ids.js';

describe('newId', () => {
  it('makes UUIDv7 ids that sort by creation order', () => {
    const ids = Array.from({ length: 2000 }, () => newId());
    expect(ids.every(isId)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('writes the same text as the uuidv7 package for the same bytes', () => {
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 2000; i++) {
      randomFillSync(bytes);
      if (i < 256) bytes.fill(i); // every byte value at every position
      expect(idText(bytes)).toBe(UUID.ofInner(bytes).toString());
    }
    const id = newId();
    expect(idText(UUID.parse(id).bytes)).toBe(id);
  });

  it('encodes the creation time in milliseconds', () => {
    const before = Date.now();
    const id = newId();
    const after = Date.now();
    expect(idTime(id)).toBeGreaterThanOrEqual(before);
    expect(idTime(id)).toBeLessThanOrEqual(after);
  });

  it('rejects strings that are not UUIDv7', () => {
    expect(isId('0190b3d2-7c1e-4f6a-8b2c-1234567890ab')).toBe(false); // version 4 nibble
    expect(isId('not-an-id')).toBe(false);
    expect(isId(42)).toBe(false);
  });
});
