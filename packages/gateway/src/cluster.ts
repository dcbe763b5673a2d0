import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import { type Logger, problem, sendProblem, waitForShutdown } from '@flotilla/core';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { adminHttpServer, sendJson } from './admin.js';

/** A worker that dies this soon after its start is not restarted in a tight loop. */
const RESTART_DELAY_MS = 1_000;

/** Environment variable holding a worker's number (1…N), e.g. for `${env:…}` in routes or logs. */
export const WORKER_ENV = 'FLOTILLA_GATEWAY_WORKER';

/** What a worker tells the primary once its own admin API (on a loopback port) is up. */
export const WORKER_ADMIN_MESSAGE = 'flotilla:gateway-worker-admin';

/** Where the primary serves the admin API of all workers. */
export interface PrimaryAdminOptions {
  port: number;
  host: string;
}

/**
 * Run in a worker after its gateway started: its metrics answer the primary's aggregation
 * requests (prom-client's cluster protocol), and the primary learns its admin API's address.
 */
export function announceWorker(registry: Registry, adminUrl: string): void {
  // Constructing an AggregatorRegistry is what installs prom-client's IPC listener in a worker.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  process.send?.({ type: WORKER_ADMIN_MESSAGE, url: adminUrl });
}

/**
 * The primary of `--workers N`: forks N workers that run the same command and share the
 * listening socket (node:cluster hands out connections), serves the admin API for all of them
 * (see {@link createPrimaryAdmin}), restarts a worker that dies, and on SIGTERM passes the signal
 * on and resolves with 0 once every worker has drained and exited.
 */
export async function runPrimary(count: number, logger: Logger, admin: PrimaryAdminOptions): Promise<number> {
  let stopping = false;
  const shutdown = waitForShutdown();
  // Each worker knows its number (1…N; a replacement keeps the number of the one it replaces).
  const numbers = new Map<number, number>();
  const fork = (number: number): Worker => {
    const worker = cluster.fork({ [WORKER_ENV]: String(number) });
    numbers.set(worker.id, number);
    return worker;
  };
  const workerAdmins = new Map<number, string>();
  cluster.on('message', (worker, message: { type?: unknown; url?: unknown }) => {
    if (message?.type === WORKER_ADMIN_MESSAGE && typeof message.url === 'string')
      workerAdmins.set(worker.id, message.url);
  });
  const adminServer = createPrimaryAdmin(() => [...workerAdmins.values()], count);
  await new Promise<void>((resolve, reject) => {
    adminServer.once('error', reject);
    adminServer.listen(admin.port, admin.host, () => resolve());
  });
  cluster.on('exit', (worker, code, signal) => {
    workerAdmins.delete(worker.id);
    const number = numbers.get(worker.id) ?? 1;
    numbers.delete(worker.id);
    if (stopping) return;
    logger.warn({ worker: worker.process.pid, code, signal }, 'gateway worker died; starting another');
    setTimeout(() => {
      if (!stopping) fork(number);
    }, RESTART_DELAY_MS).unref();
  });
  for (let i = 1; i <= count; i++) fork(i);
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
  adminServer.close();
  adminServer.closeAllConnections();
  logger.info('gateway stopped');
  return 0;
}

/**
 * The admin API of a `--workers` gateway, on the primary: `/metrics` sums every worker's metrics
 * (prom-client's `AggregatorRegistry` over the cluster IPC channel), `/health` counts the workers
 * up, `GET /routes` and `/upstreams` come from one worker (all serve the same routes), and
 * `POST /reload` reloads every worker and answers with each one's result.
 */
export function createPrimaryAdmin(workers: () => string[], expected: number): Server {
  const aggregator = new AggregatorRegistry();
  return adminHttpServer(async (_req, res, method, path) => {
    const urls = workers();
    if (method === 'GET' && path === '/health') {
      sendJson(res, urls.length > 0 ? 200 : 503, {
        status: urls.length > 0 ? 'UP' : 'DOWN',
        workers: { up: urls.length, expected },
      });
    } else if (method === 'GET' && path === '/metrics') {
      const text = await aggregator.clusterMetrics();
      res.writeHead(200, { 'content-type': aggregator.contentType });
      res.end(text);
    } else if (urls.length === 0) {
      sendProblem(res, problem({ status: 503, code: 'NO_WORKER', detail: 'No gateway worker is up yet' }));
    } else if (method === 'GET' && (path === '/routes' || path === '/upstreams')) {
      const answer = await fetch(`${urls[0]}${path}`);
      sendJson(res, answer.status, await answer.json());
    } else if (method === 'POST' && path === '/reload') {
      const results = await Promise.all(
        urls.map(async (url) => {
          const answer = await fetch(`${url}/reload`, { method: 'POST' });
          return { status: answer.status, ...((await answer.json()) as object) };
        }),
      );
      sendJson(res, results.every((r) => r.status === 200) ? 200 : 422, { workers: results });
    } else return false;
    return true;
  });
}
