import cluster, { type Worker } from 'node:cluster';
import { type Logger, waitForShutdown } from '@flotilla/core';

/** A worker that dies this soon after its start is not restarted in a tight loop. */
const RESTART_DELAY_MS = 1_000;

/**
 * The primary of `--workers N`: forks N workers that run the same command and share the
 * listening sockets (node:cluster hands out connections), restarts a worker that dies, and on
 * SIGTERM passes the signal on and resolves with 0 once every worker has drained and exited.
 */
export async function runPrimary(count: number, logger: Logger): Promise<number> {
  let stopping = false;
  const shutdown = waitForShutdown();
  const fork = (): Worker => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.warn({ worker: worker.process.pid, code, signal }, 'gateway worker died; starting another');
    setTimeout(() => {
      if (!stopping) fork();
    }, RESTART_DELAY_MS).unref();
  });
  for (let i = 0; i < count; i++) fork();
  logger.info({ workers: count }, `gateway primary started ${count} workers`);
  const signal = await shutdown;
  stopping = true;
  logger.info({ signal }, 'gateway primary stopping its workers');
  const alive = Object.values(cluster.workers ?? {}).filter(
    (w): w is Worker => w !== undefined && !w.isDead(),
  );
  await Promise.all(
    alive.map(
      (worker) =>
        new Promise<void>((resolve) => {
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    ),
  );
  logger.info('gateway stopped');
  return 0;
}
