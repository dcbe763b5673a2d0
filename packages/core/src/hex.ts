/** Lower-case hex digits as byte values. */
const HEX_DIGITS = Buffer.alloc(16, '0123456789abcdef', 'latin1');

/**
 * Writes `bytes[from..to)` as lower-case hex into `text` at `at` (two digits per byte). Ids are
 * formatted this way into one reused buffer and read out as one string: one native call per id
 * instead of one per part (or, in the uuidv7 package's `toString()`, 36 string appends).
 */
export function writeHex(text: Buffer, at: number, bytes: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const byte = bytes[i] as number;
    text[at++] = HEX_DIGITS[byte >>> 4] as number;
    text[at++] = HEX_DIGITS[byte & 0xf] as number;
  }
}
