import { describe, expect, it } from 'vitest';
import { foldName, headerNameAt, TOKEN_CHARS } from './chars.js';

/** The name a parser finds at the start of `text`. */
const nameAt = (text: string): string => headerNameAt(text, 0);

describe('headerNameAt', () => {
  it('reads the token at the given place, lowercased, up to the first character that is not one', () => {
    expect(nameAt('Content-Type')).toBe('content-type');
    expect(nameAt('CONTENT-TYPE: x')).toBe('content-type');
    expect(headerNameAt('x: 1\r\nX-Request-Id: 2', 6)).toBe('x-request-id');
    expect(nameAt('Host :x')).toBe('host');
    expect(nameAt('a\u00e9b')).toBe('a');
  });

  it('finds no name where no token character is', () => {
    expect(nameAt(': x')).toBe('');
    expect(nameAt(' folded')).toBe('');
    expect(nameAt('')).toBe('');
  });

  it('gives back the same name for every spelling of it, and the right one after another took its slot', () => {
    // Names whose hashes share a slot: the second takes it, the first is found again by its text.
    const slotOf = (name: string) => {
      let hash = 0;
      for (let i = 0; i < name.length; i++) hash = foldName(hash, name.charCodeAt(i));
      return hash & 511;
    };
    const first = 'x-a0';
    let second = '';
    for (let i = 1; second === ''; i++)
      if (slotOf(`x-${i.toString(36)}`) === slotOf(first)) second = `x-${i.toString(36)}`;
    // Same length too, so only the character comparison tells them apart.
    let third = '';
    for (let i = 0; i < 36 ** 3 && third === ''; i++) {
      const candidate = `y${i.toString(36).padStart(3, '0')}`;
      if (slotOf(candidate) === slotOf(first)) third = candidate;
    }
    expect(third).toHaveLength(first.length);
    expect(nameAt('X-A0')).toBe(first);
    expect(nameAt(second.toUpperCase())).toBe(second);
    expect(nameAt(third)).toBe(third);
    expect(nameAt('x-A0')).toBe(first);
    expect(nameAt(third.toUpperCase())).toBe(third);
  });

  it('folds a letter the same in either case and tells other characters apart', () => {
    for (let code = 0; code < 128; code++) {
      if (TOKEN_CHARS[code] !== 1) continue;
      const lower = String.fromCharCode(code).toLowerCase().charCodeAt(0);
      expect(foldName(7, code)).toBe(foldName(7, lower));
    }
    expect(nameAt('a-b')).toBe('a-b');
    expect(nameAt('a_b')).toBe('a_b');
    // `^` and `~` fold alike (0x5e | 0x20 is 0x7e): same slot, same length, told apart by text.
    expect(foldName(0, 0x5e)).toBe(foldName(0, 0x7e));
    expect(nameAt('a^b')).toBe('a^b');
    expect(nameAt('a~b')).toBe('a~b');
    expect(nameAt('a^b')).toBe('a^b');
  });

  it('slices a name longer than 64 characters each time, lowercased', () => {
    const long = `X-${'Long'.repeat(20)}`;
    expect(nameAt(long)).toBe(long.toLowerCase());
    expect(nameAt(long)).toBe(long.toLowerCase());
  });
});
