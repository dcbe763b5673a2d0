/** The Cache-Control directives a shared cache acts on (RFC 9111 §5.2.2). */
export interface CacheDirectives {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  maxAge: number | undefined;
  sMaxAge: number | undefined;
}

/**
 * Parses a Cache-Control header. Qualified forms (`private="set-cookie"`, `no-cache="x"`) are
 * read as their unqualified, stricter meaning; a malformed delta-seconds is treated as 0 (stale),
 * as RFC 9111 §1.2.2 asks.
 */
export function parseCacheControl(value: string | string[] | number | undefined): CacheDirectives {
  const out: CacheDirectives = {
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    maxAge: undefined,
    sMaxAge: undefined,
  };
  const text = Array.isArray(value) ? value.join(',') : value === undefined ? '' : String(value);
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    const arg =
      eq < 0
        ? undefined
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"(.*)"$/, '$1');
    if (name === 'no-store') out.noStore = true;
    else if (name === 'no-cache') out.noCache = true;
    else if (name === 'private') out.private = true;
    else if (name === 'public') out.public = true;
    else if (name === 'max-age') out.maxAge = seconds(arg);
    else if (name === 's-maxage') out.sMaxAge = seconds(arg);
  }
  return out;
}

function seconds(arg: string | undefined): number {
  return arg !== undefined && /^\d+$/.test(arg) ? Number(arg) : 0;
}
