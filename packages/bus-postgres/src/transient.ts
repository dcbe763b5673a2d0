import { type Logger, sleep } from '@flotilla/core';

/** SQLSTATEs after which the same statement may succeed on a new connection or a second try. */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);
const TRANSIENT_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
const TRANSIENT_MESSAGES = [
  'Connection terminated',
  'connection error',
  'not queryable',
  'timeout exceeded when trying to connect',
  'terminating connection',
];

/** True for errors of a lost or refused connection (class 08, admin shutdown, resets, ...). */
export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || TRANSIENT_SQLSTATES.has(code))) return true;
  if (typeof code === 'string' && TRANSIENT_NODE_CODES.has(code)) return true;
  return TRANSIENT_MESSAGES.some((m) => error.message.includes(m));
}

/**
 * Runs `fn`, retrying transient connection errors with doubling delays (50 ms up to 2 s) for
 * about `budgetMs`. The pool replaces dead connections, so a retry runs on a fresh one. Only for
 * statements that are safe to repeat: a repeated publish is a duplicate (consumers deduplicate
 * by messageId), a repeated ack or retry matches no row.
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  logger: Logger,
  budgetMs = 15_000,
): Promise<T> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!isTransientError(error) || Date.now() - started > budgetMs) throw error;
      const delay = Math.min(2000, 50 * 2 ** (attempt - 1));
      logger.debug({ err: error, attempt, delay }, `${what} failed on a lost connection; retrying`);
      await sleep(delay);
    }
  }
}
