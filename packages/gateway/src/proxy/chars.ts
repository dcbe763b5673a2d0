/**
 * Byte classes of HTTP/1.1 heads as lookup tables (1 = the byte belongs), for parsers that scan
 * a head character by character: one table read per character instead of a regular expression
 * per name or value.
 */
export function charTable(accepts: (code: number) => boolean): Uint8Array {
  const codes = new Uint8Array(256);
  for (let code = 0; code < 256; code++) codes[code] = accepts(code) ? 1 : 0;
  return codes;
}

/** Whether `c` is an ASCII digit or letter. */
export const isAlphaNum = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Characters of a token (RFC 9110 §5.6.2): header names and methods. */
export const TOKEN_CHARS = charTable(
  (c) => isAlphaNum(c) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c)),
);

/** Slots of the {@link headerName} cache (a power of two). */
const NAME_SLOTS = 512;
const names: string[] = new Array<string>(NAME_SLOTS).fill('');
/** Longest name the cache keeps (every registered field name is shorter). */
const CACHED_NAME_LENGTH = 64;

/**
 * Folds one character of a header name into the name's hash (`hash` starts at 0), the same for
 * a letter in either case. Parsers fold each character while they scan the name, so
 * {@link headerName} needs no second pass to find its slot.
 */
export function foldName(hash: number, code: number): number {
  return (Math.imul(hash, 31) + (code | 0x20)) | 0;
}

/**
 * The header name that starts at `text[start]` (the longest run of token characters there),
 * lowercase, from {@link headerName}; '' when no token character is there. The name ends at
 * `start + name.length`: the caller looks for its colon there.
 */
export function headerNameAt(text: string, start: number): string {
  let at = start;
  let hash = 0;
  let code = text.charCodeAt(at);
  while (TOKEN_CHARS[code] === 1) {
    hash = foldName(hash, code);
    code = text.charCodeAt(++at);
  }
  return at === start ? '' : headerName(text, start, at, hash);
}

/**
 * The lowercase header name at `text[start, end)` (a token; `hash` folded by {@link foldName}),
 * as a string V8 has internalized: the same string object every time a name repeats. A header
 * object keyed by a fresh slice costs a string-table lookup on each access (about 50 ns a field
 * here); keyed by an internalized string, a map check. The names seen last are kept in a small
 * table by hash (as undici keeps its well-known names in a tree), checked character by
 * character, so a collision costs one slice, never a wrong name. Names longer than 64
 * characters are sliced each time, not kept.
 */
function headerName(text: string, start: number, end: number, hash: number): string {
  // Clients choose the names of request headers: a long one is not kept (nor made a key).
  if (end - start > CACHED_NAME_LENGTH) return text.slice(start, end).toLowerCase();
  const slot = hash & (NAME_SLOTS - 1);
  const cached = names[slot]!;
  if (cached.length === end - start && sameLowercase(cached, text, start)) return cached;
  const name = internalized(text.slice(start, end).toLowerCase());
  names[slot] = name;
  return name;
}

function sameLowercase(lower: string, text: string, start: number): boolean {
  for (let i = 0; i < lower.length; i++) {
    let code = text.charCodeAt(start + i);
    if (code >= 0x41 && code <= 0x5a) code += 0x20;
    if (code !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** `name` as the key string of an object: property keys are internalized. */
function internalized(name: string): string {
  return Object.keys({ [name]: 0 })[0]!;
}
