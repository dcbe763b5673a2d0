import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from '@flotilla/core';
import { EmbeddedPostgresError } from '../errors.js';

const run = promisify(execFile);

/** The OS account PostgreSQL runs as when the manager runs as root. */
export interface RunAs {
  user: string;
  uid: number;
  gid: number;
}

/** The account used when the manager runs as root; PostgreSQL refuses to run as root. */
export const POSTGRES_OS_USER = 'postgres';

async function lookup(user: string): Promise<RunAs | undefined> {
  try {
    const uid = Number((await run('id', ['-u', user])).stdout.trim());
    const gid = Number((await run('id', ['-g', user])).stdout.trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { user, uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

async function groupExists(group: string): Promise<boolean> {
  try {
    await run('getent', ['group', group]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Undefined when this process is not root. As root, the `postgres` account to run initdb and
 * postgres as, created as a system user (and logged) when the machine has none.
 */
export async function resolveRunAs(logger?: Logger): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const user = POSTGRES_OS_USER;
  const found = await lookup(user);
  if (found) return found;
  const group = (await groupExists(user)) ? ['-g', user] : ['--user-group'];
  try {
    await run('useradd', ['--system', ...group, '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
    logger?.warn({ user }, 'created the system user postgres: PostgreSQL refuses to run as root');
  } catch (error) {
    // Another manager may have created it at the same moment.
    const raced = await lookup(user);
    if (raced) return raced;
    throw new EmbeddedPostgresError(
      `PostgreSQL refuses to run as root and there is no "${user}" user to run it as; creating one failed: ${String(error)}`,
      { cause: error, data: { user } },
    );
  }
  const created = await lookup(user);
  if (!created) {
    throw new EmbeddedPostgresError(`Created the "${user}" user but cannot look it up`, { data: { user } });
  }
  return created;
}
