import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chown, mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '@flotilla/core';
import { EmbeddedPostgresError } from '../errors.js';
import type { RunAs } from './run-as.js';

/** Hint added to errors that smell of a directory the postgres account cannot reach. */
export function permissionHint(output: string, dataDir: string, runAs: RunAs | undefined): string {
  if (!runAs || !/permission denied/i.test(output)) return '';
  return (
    `\nPostgreSQL runs as the OS user "${runAs.user}" (it refuses root); that user must be able to ` +
    `traverse every parent directory of ${dataDir} (e.g. chmod o+x on them).`
  );
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/** Runs a program to completion, resolving with its exit code and combined output. */
export function runProgram(
  file: string,
  args: string[],
  runAs: RunAs | undefined,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    let output = '';
    const append = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-16_384);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, output }));
  });
}

/**
 * Initialises `dataDir` with initdb unless it already holds a cluster; resolves true when it
 * did. initdb writes into a temporary sibling that is renamed into place when complete, so a
 * run killed halfway never leaves a directory that looks initialised. The caller holds the lock.
 */
export async function initialiseDataDir(options: {
  dataDir: string;
  initdb: string;
  runAs: RunAs | undefined;
  logger?: Logger;
}): Promise<boolean> {
  const { dataDir, initdb, runAs, logger } = options;
  const parent = path.dirname(dataDir);
  const base = path.basename(dataDir);
  // Leftovers of an initdb that was killed: only a lock holder initialises, so none is live.
  for (const name of await readdir(parent)) {
    if (name.startsWith(`${base}.initdb-`))
      await rm(path.join(parent, name), { recursive: true, force: true });
  }
  if (await exists(path.join(dataDir, 'PG_VERSION'))) return false;
  if (await exists(dataDir)) {
    if ((await readdir(dataDir)).length > 0) {
      throw new EmbeddedPostgresError(
        `${dataDir} exists but is not a PostgreSQL data directory (no PG_VERSION); ` +
          'move it away or choose another dataDir',
        { data: { dataDir } },
      );
    }
    await rmdir(dataDir);
  }
  const staging = path.join(parent, `${base}.initdb-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { mode: 0o700 });
  try {
    if (runAs) await chown(staging, runAs.uid, runAs.gid);
    logger?.info({ dataDir }, 'initialising embedded PostgreSQL data directory');
    const args = ['-D', staging, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C'];
    const result = await runProgram(initdb, args, runAs);
    if (result.code !== 0) {
      throw new EmbeddedPostgresError(
        `initdb failed for ${dataDir} (exit ${result.code ?? result.signal}):\n${result.output.trim()}` +
          permissionHint(result.output, dataDir, runAs),
        { data: { dataDir, exitCode: result.code, signal: result.signal, output: result.output } },
      );
    }
    await rename(staging, dataDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  return true;
}
