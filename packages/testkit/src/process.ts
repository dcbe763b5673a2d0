/**
 * Processes a test starts: spawn, wait until ready (log line or HTTP), stop with SIGTERM or
 * SIGKILL, and keep the output so a failure message can show what the process said.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ConfigurationError, FlotillaError, TimeoutError } from '@flotilla/core';

/** How to start a process. */
export interface SpawnOptions {
  /** Executable, looked up on PATH. */
  command: string;
  args?: readonly string[];
  /** Variables set on top of the parent's environment; `undefined` removes one. */
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  /** Name used in messages; defaults to the command. */
  name?: string;
  /** Run in its own process group, so `stopGroup()` also reaches the processes it starts. */
  detached?: boolean;
  /** Characters of output kept for messages, oldest dropped first; default 64 KiB. */
  outputLimit?: number;
}

/** How a process ended; `error` is set when it could not be started at all. */
export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** How to stop a process. */
export interface StopOptions {
  /** First signal; default SIGTERM. */
  signal?: 'SIGTERM' | 'SIGINT' | 'SIGKILL';
  /** Time the process gets before SIGKILL follows; default 10 s. */
  timeoutMs?: number;
  /** Signal the whole process group (only for `detached` processes); default: whether detached. */
  group?: boolean;
}

/** How to wait for an HTTP endpoint. */
export interface WaitForHttpOptions {
  /** Give up after this long; default 30 s. */
  timeoutMs?: number;
  /** Status(es) that mean ready; default any 2xx or 3xx. */
  expectStatus?: number | readonly number[];
  /** Pause between attempts; default 100 ms. */
  intervalMs?: number;
}

const DEFAULT_OUTPUT_LIMIT = 64 * 1024;
const MAX_LINES = 10_000;
/** After exit, how long to wait for the pipes to close (children of the process may hold them). */
const CLOSE_GRACE_MS = 500;

const live = new Set<ProcessHandle>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A worker that ends (or crashes) must not leave servers behind holding ports.
  process.once('exit', () => {
    for (const handle of live) handle.signalNow('SIGKILL');
  });
}

function describeExit(exit: ExitResult): string {
  if (exit.error !== undefined) return `failed to start: ${exit.error.message}`;
  return exit.signal !== null ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

function describeFetchError(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code !== undefined) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return error instanceof Error ? error.message : String(error);
}

/** A running (or finished) child process with its captured output. */
export class ProcessHandle {
  readonly name: string;
  readonly child: ChildProcess;
  readonly detached: boolean;
  /** Resolves when the process has exited and its output is complete. */
  readonly exited: Promise<ExitResult>;

  readonly #outputLimit: number;
  #output = '';
  #dropped = false;
  readonly #lines: string[] = [];
  readonly #partial = { stdout: '', stderr: '' };
  readonly #lineListeners = new Set<(line: string) => void>();
  readonly #finishListeners = new Set<() => void>();
  #exit: ExitResult | undefined;
  #finished = false;

  constructor(options: SpawnOptions) {
    this.name = options.name ?? options.command;
    this.detached = options.detached ?? false;
    this.#outputLimit = options.outputLimit ?? DEFAULT_OUTPUT_LIMIT;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[key];
      else env[key] = value;
    }
    this.child = spawn(options.command, options.args ?? [], {
      cwd: options.cwd,
      env,
      detached: this.detached,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let resolveExited!: (exit: ExitResult) => void;
    this.exited = new Promise((resolve) => {
      resolveExited = resolve;
    });
    const finish = (): void => {
      if (this.#finished || this.#exit === undefined) return;
      this.#finished = true;
      for (const stream of ['stdout', 'stderr'] as const) {
        if (this.#partial[stream] !== '') this.#addLine(this.#partial[stream]);
        this.#partial[stream] = '';
      }
      live.delete(this);
      for (const listener of this.#finishListeners) listener();
      resolveExited(this.#exit);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      const readable = this.child[stream];
      readable?.setEncoding('utf8');
      readable?.on('data', (chunk: string) => this.#onData(stream, chunk));
    }
    this.child.on('error', (error) => {
      // Only a failed start ends the process here; a failed kill() also lands here.
      if (this.child.pid !== undefined) return;
      this.#exit ??= { code: null, signal: null, error };
      finish();
    });
    this.child.on('exit', (code, signal) => {
      this.#exit ??= { code, signal };
      setTimeout(finish, CLOSE_GRACE_MS).unref();
    });
    this.child.on('close', finish);
    live.add(this);
    installExitHook();
  }

  /** Process id; undefined when the process could not be started. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** How the process ended, once it has. */
  get exitResult(): ExitResult | undefined {
    return this.#exit;
  }

  /** Combined stdout and stderr so far (the newest `outputLimit` characters). */
  output(): string {
    return this.#dropped ? `[… earlier output dropped …]\n${this.#output}` : this.#output;
  }

  /** The last `lines` lines of output. */
  tail(lines = 40): string {
    return this.#output
      .split('\n')
      .slice(-lines - 1)
      .join('\n')
      .trimEnd();
  }

  /** Resolves with the first output line that matches (including lines printed before the call). */
  waitForLine(pattern: RegExp | string, timeoutMs = 30_000): Promise<string> {
    const matches = (line: string): boolean => {
      if (typeof pattern === 'string') return line.includes(pattern);
      pattern.lastIndex = 0;
      return pattern.test(line);
    };
    const what = `a line matching ${typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern)}`;
    const seen = this.#lines.find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#lineListeners.delete(onLine);
        this.#finishListeners.delete(onFinish);
      };
      const onLine = (line: string): void => {
        if (!matches(line)) return;
        cleanup();
        resolve(line);
      };
      const onFinish = (): void => {
        cleanup();
        reject(this.#exitedError(`before printing ${what}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(this.#failure(TimeoutError, `did not print ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#lineListeners.add(onLine);
      this.#finishListeners.add(onFinish);
      if (this.#finished) onFinish();
    });
  }

  /** Polls `url` until it answers with an expected status; resolves with that status. */
  async waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const intervalMs = options.intervalMs ?? 100;
    const expected = options.expectStatus;
    const accepts = (status: number): boolean =>
      expected === undefined
        ? status >= 200 && status < 400
        : typeof expected === 'number'
          ? status === expected
          : expected.includes(status);
    const want = expected === undefined ? '2xx/3xx' : String(expected);
    const deadline = Date.now() + timeoutMs;
    let last = 'no attempt yet';
    for (;;) {
      if (this.#exit !== undefined) throw this.#exitedError(`before answering GET ${url} with ${want}`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(Math.min(remaining, 2_000)) });
        await response.body?.cancel();
        if (accepts(response.status)) return response.status;
        last = `answered ${response.status}`;
      } catch (error) {
        last = describeFetchError(error);
      }
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
      );
    }
    throw this.#failure(
      TimeoutError,
      `did not answer GET ${url} with ${want} within ${timeoutMs} ms (last: ${last})`,
    );
  }

  /**
   * Sends `signal` (SIGTERM by default) and resolves with how the process ended; sends SIGKILL
   * if it is still running after `timeoutMs`.
   */
  async stop(options: StopOptions = {}): Promise<ExitResult> {
    const signal = options.signal ?? 'SIGTERM';
    const group = options.group ?? this.detached;
    if (group && !this.detached) {
      throw new ConfigurationError(
        `process "${this.name}" was not spawned detached, so it has no group to stop`,
      );
    }
    if (this.#exit !== undefined) return this.exited;
    this.signalNow(signal, group);
    const timer =
      signal === 'SIGKILL'
        ? undefined
        : setTimeout(() => this.signalNow('SIGKILL', group), options.timeoutMs ?? 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the whole process group (the process and what it started); needs `detached`. */
  stopGroup(options: Omit<StopOptions, 'group'> = {}): Promise<ExitResult> {
    return this.stop({ ...options, group: true });
  }

  /** Kills the process with SIGKILL (as a crash would) and resolves once it is gone. */
  kill9(): Promise<ExitResult> {
    return this.stop({ signal: 'SIGKILL' });
  }

  /** Sends `signal` now without waiting; ignores a process that is already gone. */
  signalNow(signal: NodeJS.Signals, group = this.detached): void {
    const pid = this.child.pid;
    if (pid === undefined || this.#exit !== undefined) return;
    try {
      if (group && this.detached) process.kill(-pid, signal);
      else this.child.kill(signal);
    } catch {
      // Already gone (ESRCH).
    }
  }

  #onData(stream: 'stdout' | 'stderr', chunk: string): void {
    this.#output += chunk;
    if (this.#output.length > this.#outputLimit) {
      this.#output = this.#output.slice(this.#output.length - this.#outputLimit);
      this.#dropped = true;
    }
    const parts = (this.#partial[stream] + chunk).split(/\r?\n/);
    this.#partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.#addLine(line);
  }

  #addLine(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > MAX_LINES) this.#lines.shift();
    for (const listener of this.#lineListeners) listener(line);
  }

  #label(): string {
    return `process "${this.name}"${this.pid === undefined ? '' : ` (pid ${this.pid})`}`;
  }

  #exitedError(what: string): FlotillaError {
    const exit = this.#exit ?? { code: null, signal: null };
    return this.#failure(FlotillaError, `exited (${describeExit(exit)}) ${what}`, 'PROCESS_EXITED');
  }

  #failure(ErrorClass: typeof FlotillaError, what: string, code?: string): FlotillaError {
    const tail = this.tail();
    const output =
      tail === ''
        ? `(${this.name} printed nothing)`
        : `--- last output of ${this.name} ---\n${tail}\n--- end ---`;
    return new ErrorClass(`${this.#label()} ${what}\n${output}`, {
      ...(code === undefined ? {} : { code }),
      data: { process: this.name },
    });
  }
}

/** Starts a process; it is SIGKILLed if still running when the test worker exits. */
export function spawnProcess(options: SpawnOptions): ProcessHandle {
  return new ProcessHandle(options);
}

/** Processes started through the testkit that have not exited yet. */
export function runningProcesses(): ProcessHandle[] {
  return [...live];
}

/** Stops every running testkit process (SIGTERM, then SIGKILL after `timeoutMs`, default 5 s). */
export async function stopAll(options: StopOptions = {}): Promise<ExitResult[]> {
  return Promise.all(runningProcesses().map((handle) => handle.stop({ timeoutMs: 5_000, ...options })));
}

/** The processes one test started; the `processes` fixture stops them after the test. */
export class ProcessGroup {
  readonly #handles: ProcessHandle[] = [];

  /** Starts a process that belongs to this group. */
  spawn(options: SpawnOptions): ProcessHandle {
    const handle = spawnProcess(options);
    this.#handles.push(handle);
    return handle;
  }

  /** Every process started through this group, running or not. */
  get handles(): readonly ProcessHandle[] {
    return this.#handles;
  }

  /** Stops those still running (SIGTERM, then SIGKILL after `timeoutMs`, default 5 s). */
  async stopAll(options: StopOptions = {}): Promise<void> {
    await Promise.all(this.#handles.map((handle) => handle.stop({ timeoutMs: 5_000, ...options })));
  }

  /** Output tail of every process in the group, for a failure report. */
  report(lines = 40): string {
    return this.#handles
      .map((handle) => {
        const state = handle.exitResult === undefined ? 'running' : describeExit(handle.exitResult);
        return `--- ${handle.name} (${state}) ---\n${handle.tail(lines) || '(no output)'}`;
      })
      .join('\n');
  }
}
