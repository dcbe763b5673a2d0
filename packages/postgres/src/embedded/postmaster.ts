import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@flotilla/core';
import { isProcessAlive, processCommandLine, shutDownProcess, waitForPidReleased } from './processes.js';

/** The first lines of PostgreSQL's `postmaster.pid`. */
export interface PostmasterPid {
  pid: number;
  dataDir: string;
  port?: number;
}

/** Reads `<dataDir>/postmaster.pid`, or undefined when there is none. */
export async function readPostmasterPid(dataDir: string): Promise<PostmasterPid | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const [pidLine, dirLine, , portLine] = text.split('\n');
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const port = Number(portLine);
  return { pid, dataDir: dirLine ?? '', ...(Number.isInteger(port) && port > 0 ? { port } : {}) };
}

/**
 * True unless /proc shows that `pid` is some other program: a pid from an old postmaster.pid
 * may since have been given to an unrelated process, which must not be signalled.
 */
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  const argv = await processCommandLine(pid);
  if (argv === undefined) return true; // no /proc: trust the pid
  const d = argv.indexOf('-D');
  return d >= 0 && path.resolve(argv[d + 1] ?? '') === path.resolve(dataDir);
}

/**
 * Makes the data directory startable after its previous manager died (e.g. kill -9):
 * - a live postmaster orphaned by that manager is shut down (fast shutdown, then harder);
 * - a postmaster.pid naming a pid now used by another program is removed, since PostgreSQL
 *   would refuse to start on it;
 * - a postmaster.pid of a dead process is left for PostgreSQL, which removes it itself after
 *   checking that no old backend still uses the shared memory, then runs crash recovery.
 *   Except a zombie: PostgreSQL takes it for a live postmaster, and an init that never reaps
 *   keeps it forever; if it is not reaped soon, the file is removed.
 */
export async function clearPreviousServer(dataDir: string, graceMs: number, logger?: Logger): Promise<void> {
  const previous = await readPostmasterPid(dataDir);
  if (!previous) return;
  const { pid } = previous;
  if (await isProcessAlive(pid)) {
    if (!(await isPostmasterOf(pid, dataDir))) {
      logger?.warn({ pid, dataDir }, 'postmaster.pid names a pid now used by another program; removing it');
      await removePidFile(dataDir);
      return;
    }
    logger?.warn(
      { pid, dataDir, port: previous.port },
      'shutting down a PostgreSQL server left by a dead manager',
    );
    const signal = await shutDownProcess(pid, graceMs);
    logger?.info({ pid, signal }, 'previous PostgreSQL server stopped');
    // A fast shutdown removes postmaster.pid; after SIGQUIT/SIGKILL it stays, as after a crash.
    if (!(await readPostmasterPid(dataDir))) return;
  } else {
    logger?.info({ pid, dataDir }, 'previous PostgreSQL server was killed; it will recover on start');
  }
  if (!(await waitForPidReleased(pid, ZOMBIE_REAP_MS))) {
    logger?.warn({ pid, dataDir }, 'previous postmaster is an unreaped zombie; removing its postmaster.pid');
    await removePidFile(dataDir);
  }
}

const ZOMBIE_REAP_MS = 3_000;

async function removePidFile(dataDir: string): Promise<void> {
  await unlink(path.join(dataDir, 'postmaster.pid')).catch(() => {});
}
