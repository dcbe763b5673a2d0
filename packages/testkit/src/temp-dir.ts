import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory and the call that removes it. */
export interface TempDir {
  readonly dir: string;
  remove(): Promise<void>;
}

/**
 * A fresh directory under the OS temp dir, traversable by other users (mkdtemp makes 0700):
 * as root, embedded PostgreSQL runs as the `postgres` user, which must be able to enter it.
 */
export async function makeTempDir(prefix: string): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), `flotilla-${prefix}-`));
  await chmod(dir, 0o755);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
