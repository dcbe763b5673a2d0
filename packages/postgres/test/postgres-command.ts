import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ProcessHandle, spawnProcess } from '@flotilla/testkit';

const BIN = fileURLToPath(new URL('../../cli/bin/flotilla.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../cli/dist/main.js', import.meta.url));

/** What `flotilla postgres --json` prints once the server accepts connections. */
export interface PostgresReady {
  url: string;
  port: number;
  pid: number;
  serverPid: number;
}

/** A running `flotilla postgres` process. */
export interface PostgresCommand extends PostgresReady {
  handle: ProcessHandle;
}

/** Starts the real `flotilla postgres` command on `dataDir` and resolves once it is ready. */
export async function startPostgresCommand(dataDir: string, port: number): Promise<PostgresCommand> {
  await access(BUILT).catch(() => {
    throw new Error(`${BUILT} is missing: the command runs the built packages, run "npx tsc -b" first`);
  });
  const handle = spawnProcess({
    name: 'flotilla postgres',
    command: process.execPath,
    args: [BIN, 'postgres', '--data-dir', dataDir, '--port', String(port), '--json'],
  });
  const line = await handle.waitForLine(/^\{"ready":true/, 90_000);
  return { ...(JSON.parse(line) as PostgresReady), handle };
}
