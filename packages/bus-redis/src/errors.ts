import { FlotillaError, registerErrorClass } from '@flotilla/core';

/** A Redis command of the bus failed; `data` names the operation and key, `cause` is the driver error. */
export class RedisBusError extends FlotillaError {
  static override readonly defaultCode: string = 'BUS_REDIS';
  static override readonly defaultStatus: number = 503;
  static override readonly defaultRetryable: boolean = true;
}
registerErrorClass(RedisBusError);

/** Runs `fn`, wrapping a driver error with what was being done and on which key. */
export function wrapRedis<T>(what: string, key: string, fn: () => Promise<T>): Promise<T> {
  // Not an async function: this is on every publish and settle, and one promise less per call shows.
  const wrap = (error: unknown): never => {
    if (error instanceof FlotillaError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new RedisBusError(`Redis bus ${what} on ${key} failed: ${message}`, {
      cause: error,
      data: { operation: what, key },
    });
  };
  try {
    return fn().catch(wrap);
  } catch (error) {
    return Promise.reject(error).catch(wrap);
  }
}
