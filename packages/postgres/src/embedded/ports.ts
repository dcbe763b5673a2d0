import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import net from 'node:net';

/** The address the embedded server listens on. */
export const LOOPBACK = '127.0.0.1';

/** Resolves with the port once a listener bound it on `host`, or undefined when it could not. */
function tryListen(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** True when nothing listens on `port` at `host`. */
export async function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return (await tryListen(port, host)) !== undefined;
}

/** A port the OS reports free on `host` right now. */
export async function freePort(host = LOOPBACK): Promise<number> {
  const port = await tryListen(0, host);
  if (port === undefined) throw new Error(`Cannot find a free port on ${host}`);
  return port;
}

/**
 * The first free port among `preferred` (in order, duplicates and `avoid` skipped), else one
 * the OS picks.
 */
export async function choosePort(
  preferred: (number | undefined)[],
  avoid: ReadonlySet<number> = new Set(),
): Promise<number> {
  const tried = new Set<number>();
  for (const port of preferred) {
    if (port === undefined || tried.has(port) || avoid.has(port)) continue;
    tried.add(port);
    if (await isPortFree(port)) return port;
  }
  for (;;) {
    const port = await freePort();
    if (!avoid.has(port)) return port;
  }
}

/** What the manager remembers between runs. */
export interface ManagerState {
  /** Port served last time, preferred when the configured one is taken. */
  port?: number;
}

/** Reads the state file; a missing or unreadable one is an empty state. */
export async function readState(file: string): Promise<ManagerState> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as ManagerState;
    return typeof value.port === 'number' && Number.isInteger(value.port) ? { port: value.port } : {};
  } catch {
    return {};
  }
}

/** Writes the state file atomically (write aside, then rename). */
export async function writeState(file: string, state: ManagerState): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state)}\n`);
  await rename(tmp, file);
}
