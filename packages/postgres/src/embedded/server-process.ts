import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { LOOPBACK } from './ports.js';
import type { RunAs } from './run-as.js';

const MAX_LOG_BYTES = 10 * 1024 * 1024;

/** How a server process ended. */
export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One running `postgres` process and the log it writes. */
export interface ServerProcess {
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<ServerExit>;
  /** Undefined while it runs. */
  exit: ServerExit | undefined;
  /** What the server wrote to its log since it was spawned (last 16 KiB). */
  output(): Promise<string>;
}

/**
 * Spawns `postgres` on `port`, logging to `logFile`. It runs detached (its own process group
 * and session), so a Ctrl-C in the terminal reaches the manager, which stops the services
 * before the database, instead of killing the database first. Its output goes to a file, not
 * a pipe, so a server outliving a killed manager never writes into a broken pipe.
 */
export async function spawnServer(options: {
  postgres: string;
  dataDir: string;
  port: number;
  logFile: string;
  runAs: RunAs | undefined;
}): Promise<ServerProcess> {
  const size = await stat(options.logFile).then(
    (s) => s.size,
    () => 0,
  );
  if (size > MAX_LOG_BYTES) await rename(options.logFile, `${options.logFile}.1`);
  const offset = size > MAX_LOG_BYTES ? 0 : size;
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    const args = ['-D', options.dataDir, '-p', String(options.port)];
    // Loopback TCP only: no Unix socket, so it never clashes with a system server's socket.
    args.push('-c', `listen_addresses=${LOOPBACK}`, '-c', 'unix_socket_directories=');
    child = spawn(options.postgres, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
  const server: ServerProcess = {
    child,
    exit: undefined,
    exited: new Promise((resolve) => {
      const done = (exit: ServerExit) => {
        server.exit ??= exit;
        resolve(server.exit);
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      // Spawn failures (EACCES, ENOENT) arrive as 'error' without 'exit'.
      child.on('error', () => done({ code: -1, signal: null }));
    }),
    output: () => readFrom(options.logFile, offset),
  };
  return server;
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(offset, size - 16_384);
      const buffer = Buffer.alloc(Math.max(0, size - start));
      await handle.read(buffer, 0, buffer.length, start);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

/**
 * Polls a real connection until the server on `port` answers as the one serving `dataDir`.
 * Resolves 'ready', 'exited' when the process ends first, or 'timeout'.
 */
export async function waitUntilReady(
  server: ServerProcess,
  port: number,
  dataDir: string,
  timeoutMs: number,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (server.exit) return 'exited';
    const client = new pg.Client({
      host: LOOPBACK,
      port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: 2_000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      // Another server could hold the port for a moment; only ours serves our data directory.
      const { rows } = await client.query<{ dir: string }>("select current_setting('data_directory') as dir");
      if (rows[0]?.dir === dataDir) return 'ready';
    } catch {
      // not accepting connections yet (or in recovery)
    } finally {
      await client.end().catch(() => {});
    }
    await Promise.race([sleep(100), server.exited]);
  }
  return server.exit ? 'exited' : 'timeout';
}
