import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import type { Logger } from '@flotilla/core';
import { DataDirLockedError, EmbeddedPostgresError } from '../errors.js';
import { isProcessAlive, processStartTime } from './processes.js';

/** What a lock file says about the manager that owns a data directory. */
export interface LockOwner {
  pid: number;
  /** Start time of `pid` (see `processStartTime`), to tell a reused pid from the owner. */
  pidStartTime?: string;
  dataDir: string;
  startedAt: string;
  port?: number;
  url?: string;
  token: string;
}

/** Lock files held by this process, so a second manager in the same process is refused too. */
const heldHere = new Set<string>();

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

async function removeQuietly(file: string): Promise<void> {
  await unlink(file).catch(() => {});
}

/**
 * Creates `file` with `content` only if it does not exist, never exposing a partly written
 * file: the content is written to a private temporary file and hard-linked into place
 * (link fails with EEXIST atomically, like O_EXCL). Falls back to O_EXCL where the file
 * system has no hard links.
 */
async function createExclusive(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { flag: 'wx' });
  try {
    await link(tmp, file);
    return true;
  } catch (error) {
    if (code(error) === 'EEXIST') return false;
    if (code(error) !== 'EPERM' && code(error) !== 'ENOTSUP' && code(error) !== 'EXDEV') throw error;
    try {
      await writeFile(file, content, { flag: 'wx' });
      return true;
    } catch (fallbackError) {
      if (code(fallbackError) === 'EEXIST') return false;
      throw fallbackError;
    }
  } finally {
    await removeQuietly(tmp);
  }
}

async function ownerIsAlive(owner: LockOwner, file: string): Promise<boolean> {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return false;
  // Our own pid: held only if this process took it; otherwise the pid was reused (containers).
  if (owner.pid === process.pid) return heldHere.has(file);
  if (!(await isProcessAlive(owner.pid))) return false;
  if (owner.pidStartTime === undefined) return true;
  const startTime = await processStartTime(owner.pid);
  return startTime === undefined || startTime === owner.pidStartTime;
}

function parseOwner(raw: string): LockOwner | undefined {
  try {
    const value = JSON.parse(raw) as LockOwner;
    return typeof value === 'object' && value !== null && typeof value.pid === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Exclusive ownership of an embedded PostgreSQL data directory by one live manager. */
export class DataDirLock {
  private constructor(
    readonly file: string,
    private owner: LockOwner,
  ) {}

  /**
   * Takes the lock file `file` for `dataDir`. A lock left by a dead process is removed; one
   * held by a live process is a DataDirLockedError naming the data dir, the pid and its URL.
   */
  static async acquire(file: string, dataDir: string, logger?: Logger): Promise<DataDirLock> {
    const owner: LockOwner = {
      pid: process.pid,
      dataDir,
      startedAt: new Date().toISOString(),
      token: randomBytes(8).toString('hex'),
    };
    const startTime = await processStartTime(process.pid);
    if (startTime !== undefined) owner.pidStartTime = startTime;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!heldHere.has(file) && (await createExclusive(file, JSON.stringify(owner)))) {
        heldHere.add(file);
        return new DataDirLock(file, owner);
      }
      let raw: string;
      try {
        raw = await readFile(file, 'utf8');
      } catch (error) {
        if (code(error) === 'ENOENT') continue; // released meanwhile
        throw error;
      }
      const current = parseOwner(raw);
      if (current && (await ownerIsAlive(current, file))) {
        const serving = current.url ? `serving ${current.url}` : 'starting';
        throw new DataDirLockedError(
          `Embedded PostgreSQL data directory ${dataDir} is in use by process ${current.pid} ` +
            `(${serving}, since ${current.startedAt}). Stop that process or use another data directory.`,
          { data: { dataDir, lockFile: file, pid: current.pid, url: current.url, port: current.port } },
        );
      }
      await removeStale(file, raw);
      logger?.warn({ lockFile: file, pid: current?.pid }, 'removed the lock of a manager that is gone');
    }
    throw new EmbeddedPostgresError(`Could not take the lock ${file}: it keeps changing hands`, {
      retryable: true,
      data: { lockFile: file },
    });
  }

  /** Records the port and URL being served, for the error a second manager gets. */
  async update(fields: { port: number; url: string }): Promise<void> {
    this.owner = { ...this.owner, ...fields };
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(this.owner));
    await rename(tmp, this.file);
  }

  /** Removes the lock file if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (!heldHere.has(this.file)) return;
    try {
      const current = parseOwner(await readFile(this.file, 'utf8'));
      if (current?.token === this.owner.token) await unlink(this.file);
    } catch (error) {
      if (code(error) !== 'ENOENT') throw error;
    } finally {
      heldHere.delete(this.file);
    }
  }
}

/**
 * Removes a stale lock without racing another process that removes it too and takes a fresh
 * one: move it aside, and if what was moved is not the stale content we judged, put it back.
 */
async function removeStale(file: string, staleRaw: string): Promise<void> {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(file, aside);
  } catch (error) {
    if (code(error) === 'ENOENT') return;
    throw error;
  }
  try {
    if ((await readFile(aside, 'utf8')) !== staleRaw) await link(aside, file).catch(() => {});
  } finally {
    await removeQuietly(aside);
  }
}
