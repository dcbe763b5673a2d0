import { ConfigurationError } from '@flotilla/core';

const PROTOCOLS = new Set(['postgres:', 'postgresql:']);

/** Parses a `postgres://` URL, or throws a ConfigurationError naming `field` and the redacted value. */
export function parsePostgresUrl(url: string, field = 'url'): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigurationError(`${field} should be a postgres:// URL, got "${redactUrl(url)}"`, {
      data: { field },
    });
  }
  if (!PROTOCOLS.has(parsed.protocol)) {
    throw new ConfigurationError(
      `${field} should be a postgres:// or postgresql:// URL, got protocol "${parsed.protocol}"`,
      { data: { field, protocol: parsed.protocol } },
    );
  }
  return parsed;
}

/** The URL of database `dbName` on the server that `serverUrl` points at (same credentials and options). */
export function databaseUrl(serverUrl: string, dbName: string): string {
  const url = parsePostgresUrl(serverUrl, 'serverUrl');
  url.pathname = `/${encodeURIComponent(dbName)}`;
  return url.toString();
}

/** The database name a URL points at, or undefined when it names none. */
export function databaseNameOf(url: string): string | undefined {
  const name = decodeURIComponent(parsePostgresUrl(url).pathname.slice(1));
  return name === '' ? undefined : name;
}

/** The URL with its password replaced, safe to log. Unparseable input is not echoed back. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<unparseable URL>';
  }
  if (parsed.password) parsed.password = '***';
  for (const key of [...parsed.searchParams.keys()]) {
    if (/pass|secret|key/i.test(key)) parsed.searchParams.set(key, '***');
  }
  return parsed.toString();
}
