import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from './main.js';

const bin = fileURLToPath(new URL('../bin/flotilla.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

async function run(argv: string[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const code = await main(argv, { stdout, stderr });
  return { code, out, err };
}

describe('flotilla', () => {
  it('lists the commands packages contribute with --help', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/^Usage: flotilla <command>/);
    expect(out).toMatch(/^ {2}postgres +Run embedded PostgreSQL/m);
    expect(out).toMatch(/^ {2}up +/m);
  });

  it('rejects an unknown command with a one-line error, the usage and exit code 2', async () => {
    const { code, out, err } = await run(['frobnicate']);
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err.split('\n')[0]).toBe('flotilla: unknown command "frobnicate"');
    expect(err).toContain('Usage: flotilla <command>');
  });

  it('rejects an unknown flag of a command with exit code 2 and that command usage', async () => {
    const { code, err } = await run(['postgres', '--bogus']);
    expect(code).toBe(2);
    expect(err.split('\n')[0]).toBe("flotilla postgres: unknown option '--bogus'");
    expect(err).toContain('Usage: flotilla postgres');
  });

  it('rejects a bad flag value naming the flag and the value', async () => {
    const { code, err } = await run(['postgres', '--port', 'eighty']);
    expect(code).toBe(2);
    expect(err.split('\n')[0]).toBe(
      'flotilla postgres: --port should be an integer in [1, 65535], got "eighty"',
    );
  });

  it('rejects a string flag given without its value', async () => {
    const { code, err } = await run(['postgres', '--port']);
    expect(code).toBe(2);
    expect(err.split('\n')[0]).toMatch(/^flotilla postgres: Option '--port <value>' argument missing/);
  });

  it('prints the usage and exits 2 when no command is given', async () => {
    const { code, err } = await run([]);
    expect(code).toBe(2);
    expect(err).toContain('Commands:');
  });

  it('shows the options of one command', async () => {
    const { code, out } = await run(['help', 'postgres']);
    expect(code).toBe(0);
    expect(out).toContain('--data-dir <dir>');
    expect(out).toContain('-h, --help');
  });

  it('runs as a real process through the bin shim and through npx', async () => {
    const exec = promisify(execFile);
    const direct = await exec(process.execPath, [bin, '--help']);
    expect(direct.stdout).toContain('postgres');
    const npx = await exec('npx', ['--no-install', 'flotilla', '--version'], { cwd: repoRoot });
    expect(npx.stdout.trim()).toBe('0.0.0');
    const bad = await exec(process.execPath, [bin, 'nope']).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain('unknown command "nope"');
  });
});
