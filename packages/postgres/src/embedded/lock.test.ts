import { type ChildProcess, spawn } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hasErrorCode } from '@flotilla/core';
import { makeTempDir } from '@flotilla/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataDirLock } from './lock.js';
import { processStartTime } from './processes.js';

let temp: { dir: string; remove(): Promise<void> };
let lockFile: string;
let dataDir: string;
const sleepers: ChildProcess[] = [];

beforeAll(async () => {
  temp = await makeTempDir('lock');
});

afterEach(async () => {
  for (const child of sleepers.splice(0)) child.kill('SIGKILL');
});

afterAll(async () => {
  await temp?.remove();
});

let n = 0;
function fresh(): void {
  n++;
  dataDir = path.join(temp.dir, `data${n}`);
  lockFile = `${dataDir}.lock`;
}

/** A live process that is not a Flotilla manager. */
async function liveProcess(): Promise<number> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  sleepers.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid!;
}

async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

async function writeLock(owner: Record<string, unknown>): Promise<void> {
  await writeFile(
    lockFile,
    JSON.stringify({ dataDir, startedAt: '2026-01-01T00:00:00Z', token: 'x', ...owner }),
  );
}

describe('DataDirLock', () => {
  it('is exclusive until released', async () => {
    fresh();
    const lock = await DataDirLock.acquire(lockFile, dataDir);
    await expect(DataDirLock.acquire(lockFile, dataDir)).rejects.toThrow(/in use by process/);
    await lock.release();
    await expect(access(lockFile)).rejects.toThrow(/ENOENT/);
    const again = await DataDirLock.acquire(lockFile, dataDir);
    await again.release();
  });

  it('takes over a lock left by a process that is gone', async () => {
    fresh();
    await writeLock({ pid: await deadPid() });
    const lock = await DataDirLock.acquire(lockFile, dataDir);
    expect(JSON.parse(await readFile(lockFile, 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('refuses a lock held by a live process, naming the data dir, the pid and its URL', async () => {
    fresh();
    const pid = await liveProcess();
    await writeLock({
      pid,
      pidStartTime: await processStartTime(pid),
      url: 'postgres://postgres@127.0.0.1:5999/x',
    });
    const error = await DataDirLock.acquire(lockFile, dataDir).catch((e: unknown) => e);
    expect(hasErrorCode(error, 'DATA_DIR_LOCKED')).toBe(true);
    expect((error as Error).message).toContain(`${dataDir} is in use by process ${pid}`);
    expect((error as Error).message).toContain('postgres://postgres@127.0.0.1:5999/x');
  });

  it('treats a lock whose pid now belongs to another program as stale', async () => {
    fresh();
    const pid = await liveProcess();
    // Same pid, different start time: the OS reused the pid of a dead manager.
    await writeLock({ pid, pidStartTime: '1' });
    const lock = await DataDirLock.acquire(lockFile, dataDir);
    await lock.release();
  });
});
