/** Signals on which a Flotilla process stops gracefully. */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Resolves with the first shutdown signal received. While it waits, the signals do not kill
 * the process, so the caller can stop accepting, drain, deregister and exit 0.
 */
export function waitForShutdown(
  signals: readonly NodeJS.Signals[] = SHUTDOWN_SIGNALS,
): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, handler);
      // A second signal while draining means "now": restore the default so it kills.
      for (const s of signals) process.once(s, () => process.exit(128 + (s === 'SIGINT' ? 2 : 15)));
      resolve(signal);
    };
    for (const s of signals) process.on(s, handler);
  });
}
