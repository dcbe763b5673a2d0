/**
 * Values the global setup hands to test workers through vitest's `provide`/`inject`.
 *
 * This module must not import `vitest`: the global setup loads it, and vitest refuses to be
 * imported there. The fixtures module, which runs in workers, plugs `inject` in instead.
 */

/** What the global setup learned about PostgreSQL. */
export interface ProvidedPostgres {
  /** Server URL the workers should use (the configured one, or the embedded server's). */
  url?: string;
  /** Why no server is available, when neither the configured nor an embedded one started. */
  reason?: string;
  /** True when `url` points at the embedded server the global setup started. */
  embedded?: boolean;
}

export const POSTGRES_KEY = 'flotilla.postgres';

declare module 'vitest' {
  export interface ProvidedContext {
    'flotilla.postgres': ProvidedPostgres;
  }
}

let reader: (() => ProvidedPostgres | undefined) | undefined;

/** Called by the fixtures module with a reader backed by vitest's `inject`. */
export function setProvidedReader(read: () => ProvidedPostgres | undefined): void {
  reader = read;
}

/** The PostgreSQL facts from the global setup, or undefined outside a vitest worker. */
export function providedPostgres(): ProvidedPostgres | undefined {
  try {
    return reader?.();
  } catch {
    // Not inside a vitest worker.
    return undefined;
  }
}
