import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasErrorCode } from '@flotilla/core';
import { describe, expect, vi } from 'vitest';
import { test } from './fixtures.js';
import { freePort } from './ports.js';
import { type ProcessHandle, spawnProcess } from './process.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

function node(name: string, ...args: string[]) {
  return { name, command: process.execPath, args };
}

function isAlive(pid: number): boolean {
  try {
    // A zombie waiting for init to reap it is dead for our purposes.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc entry: gone (or no /proc at all, then ask the kernel).
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('spawnProcess', () => {
  test('waits for a log line and returns it', async ({ processes }) => {
    const port = await freePort();
    const server = processes.spawn(node('http-server', join(fixtures, 'http-server.mjs'), String(port)));
    expect(await server.waitForLine(/listening on \d+/)).toBe(`listening on ${port}`);
    // Lines printed before the call count too.
    expect(await server.waitForLine('starting')).toBe('starting');
  });

  test('waits until an HTTP endpoint answers with the expected status', async ({ processes }) => {
    const port = await freePort();
    const server = processes.spawn(node('http-server', join(fixtures, 'http-server.mjs'), String(port)));
    expect(await server.waitForHttp(`http://127.0.0.1:${port}/health`)).toBe(200);
    expect(await server.waitForHttp(`http://127.0.0.1:${port}/missing`, { expectStatus: 404 })).toBe(404);
  });

  test('stops a process with SIGTERM and reports its exit code', async ({ processes }) => {
    const port = await freePort();
    const server = processes.spawn(node('http-server', join(fixtures, 'http-server.mjs'), String(port)));
    await server.waitForLine('listening');
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    expect(server.running).toBe(false);
    expect(server.output()).toContain('stopping');
  });

  test('follows up with SIGKILL when a process ignores SIGTERM', async ({ processes }) => {
    const stubborn = processes.spawn(node('stubborn', join(fixtures, 'stubborn.mjs')));
    await stubborn.waitForLine('running');
    expect(await stubborn.stop({ timeoutMs: 300 })).toEqual({ code: null, signal: 'SIGKILL' });
    expect(stubborn.output()).toContain('ignoring SIGTERM');
  });

  test('kills a process with SIGKILL, as a crash would', async ({ processes }) => {
    const stubborn = processes.spawn(node('stubborn', join(fixtures, 'stubborn.mjs')));
    await stubborn.waitForLine('running');
    expect(await stubborn.kill9()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(stubborn.output()).not.toContain('ignoring SIGTERM');
  });

  test('stops the whole process group of a detached process', async ({ processes }) => {
    const parent = processes.spawn({ ...node('parent', join(fixtures, 'parent.mjs')), detached: true });
    const childPid = Number((await parent.waitForLine(/^child \d+$/)).split(' ')[1]);
    expect(isAlive(childPid)).toBe(true);
    expect(await parent.stopGroup()).toEqual({ code: null, signal: 'SIGTERM' });
    await vi.waitFor(() => expect(isAlive(childPid)).toBe(false), { timeout: 10_000 });
  });

  test('names the process, what it awaited and its last output when it exits first', async ({
    processes,
  }) => {
    const failing = processes.spawn({
      name: 'config-server',
      command: process.execPath,
      args: ['-e', "console.log('loading config'); console.error('bad port: -1'); process.exit(3)"],
    });
    const error = await failing.waitForLine('ready').catch((e: unknown) => e);
    expect(hasErrorCode(error, 'PROCESS_EXITED')).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(/^process "config-server" \(pid \d+\) exited \(exit code 3\) before printing/);
    expect(message).toContain('"ready"');
    expect(message).toContain('loading config');
    expect(message).toContain('bad port: -1');
    // stdout and stderr are separate pipes, so only the content is certain, not the order.
    expect(processes.report()).toContain('--- config-server (exit code 3) ---');
    expect(processes.report()).toContain('bad port: -1');
  });

  test('names the process, what it awaited and its last output when a wait times out', async ({
    processes,
  }) => {
    const slow = processes.spawn({
      name: 'registry',
      command: process.execPath,
      args: ['-e', "console.log('warming up'); setInterval(() => {}, 1000)"],
    });
    // Its output is there before the short wait starts (a busy machine may take longer than
    // 200 ms to start Node).
    await slow.waitForLine(/warming up/);
    await expect(slow.waitForLine(/ready/, 200)).rejects.toThrow(
      /process "registry" \(pid \d+\) did not print a line matching \/ready\/ within 200 ms[\s\S]*warming up/,
    );
    const port = await freePort();
    await expect(slow.waitForHttp(`http://127.0.0.1:${port}/health`, { timeoutMs: 200 })).rejects.toThrow(
      /process "registry" .*did not answer GET http:\/\/127.0.0.1:\d+\/health with 2xx\/3xx within 200 ms \(last: ECONNREFUSED[\s\S]*warming up/,
    );
  });

  test('reports a command that cannot be started', async () => {
    const missing = spawnProcess({ name: 'missing', command: '/nonexistent/flotilla-no-such-command' });
    const exit = await missing.exited;
    expect(exit.error?.message).toMatch(/ENOENT/);
    await expect(missing.waitForLine('ready')).rejects.toThrow(/failed to start: .*ENOENT/);
  });

  describe('in the processes fixture', () => {
    let leftOver: ProcessHandle | undefined;

    test('a process still running when the test ends', async ({ processes }) => {
      leftOver = processes.spawn(node('forever', '-e', "console.log('up'); setInterval(() => {}, 1000)"));
      await leftOver.waitForLine('up');
    });

    test('has been stopped after that test', () => {
      expect(leftOver?.running).toBe(false);
      expect(leftOver?.exitResult).toEqual({ code: null, signal: 'SIGTERM' });
    });
  });
});
