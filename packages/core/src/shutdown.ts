/** Signals on which a Flotilla process stops gracefully. */
export const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Resolves with the first shutdown signal received. While it waits, the signals do not kill
 * the process, so the caller can stop accepting, drain, deregister and exit 0. A second signal
 * means "now": `force` runs (a supervisor kills its children there, which would otherwise be
 * left running), then the process exits.
 */
export function waitForShutdown(
  signals: readonly NodeJS.Signals[] = SHUTDOWN_SIGNALS,
  force?: () => void,
): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals) => {
      for (const s of signals) process.off(s, handler);
      const now = (s: NodeJS.Signals) => {
        try {
          force?.();
        } finally {
          process.exit(128 + (s === 'SIGINT' ? 2 : 15));
        }
      };
      for (const s of signals) process.once(s, now);
      resolve(signal);
    };
    for (const s of signals) process.on(s, handler);
  });
}
