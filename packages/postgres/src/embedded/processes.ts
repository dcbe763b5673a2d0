import { readFile } from 'node:fs/promises';
// Ref'd timers on purpose: while the manager waits for a process, nothing else may keep Node alive.
import { setTimeout as sleep } from 'node:timers/promises';

/** Fields of `/proc/<pid>/stat` after the command name, or undefined off Linux or for a gone pid. */
async function procStat(pid: number): Promise<string[] | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields resume after the last ')'.
    return text
      .slice(text.lastIndexOf(')') + 2)
      .trim()
      .split(' ');
  } catch {
    return undefined;
  }
}

/**
 * True when `pid` is a running process. A zombie counts as gone: an orphaned postmaster that
 * exited stays a zombie until PID 1 reaps it, which some container inits never do.
 */
export async function isProcessAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await procStat(pid);
  return stat?.[0] !== 'Z' && stat?.[0] !== 'X';
}

/**
 * An identifier of when `pid` started (clock ticks since boot, from /proc), so a recorded pid
 * that the OS has since given to another process is not mistaken for the recorded one.
 * Undefined where /proc is not available.
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  return (await procStat(pid))?.[19];
}

/** The command line of `pid`, or undefined where /proc is not available or the pid is gone. */
export async function processCommandLine(pid: number): Promise<string[] | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return text.split('\0').filter((part) => part !== '');
  } catch {
    return undefined;
  }
}

/** True while any process has this pid, zombies included (as `kill(pid, 0)` sees it). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until no process (not even a zombie) has `pid`; resolves true if that happened in time. */
export async function waitForPidReleased(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidExists(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Polls until `pid` is gone; resolves true if it went within `timeoutMs`. */
export async function waitForProcessExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (await isProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/**
 * Stops `pid` the way PostgreSQL documents: SIGINT (fast shutdown: roll back sessions,
 * checkpoint), then SIGQUIT (immediate shutdown) and finally SIGKILL if it does not go.
 * Resolves with the signal that finished it.
 */
export async function shutDownProcess(pid: number, graceMs: number): Promise<NodeJS.Signals> {
  const steps: [NodeJS.Signals, number][] = [
    ['SIGINT', graceMs],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ];
  for (const [signal, waitMs] of steps) {
    signalProcess(pid, signal);
    if (await waitForProcessExit(pid, waitMs)) return signal;
  }
  return 'SIGKILL';
}

/** Resolves with `promise`'s value, or 'timeout' after `ms` (the timer is cleared either way). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
