import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FlotillaError, UnavailableError } from '@flotilla/core';

/** One launch of a supervised process: what to run and how to tell it is ready. */
export interface Launch {
  /** Program and arguments. */
  command: readonly string[];
  /** URL answering 200 once the process is ready. */
  healthUrl: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** A platform component or service instance run as a child process. */
export interface ComponentSpec {
  /** Short name used as the output prefix, e.g. `registry` or `catalog#1`. */
  name: string;
  /** What to run; called again before each restart (a service instance gets a fresh port). */
  launch: () => Launch | Promise<Launch>;
  /** Restart with backoff when it exits on its own after it was ready; default false (its exit ends the system). */
  restart?: boolean;
}

/** Flotilla's own CLI, for platform components (`flotilla registry`, …). */
export function flotillaCommand(...args: string[]): string[] {
  return [process.execPath, fileURLToPath(new URL('../bin/flotilla.mjs', import.meta.url)), ...args];
}

export type ComponentStatus = 'starting' | 'up' | 'restarting' | 'stopping' | 'stopped' | 'exited';

const MAX_BACKOFF_MS = 30_000;
/** A process that stayed up this long starts its backoff afresh after the next crash. */
const STABLE_MS = 60_000;

/**
 * One supervised process. Its output is copied line by line with a `[name]` prefix, so the
 * interleaved logs of a whole system stay readable. With `restart`, a crash after it was ready
 * is followed by a restart after 1 s, 2 s, 4 s … up to 30 s.
 */
export class Component {
  readonly name: string;
  status: ComponentStatus = 'starting';
  /** The current launch (its health URL tells where the process serves). */
  current: Launch | undefined;
  restarts = 0;
  private child: ChildProcess | undefined;
  private exitedOnce: Promise<number | NodeJS.Signals | null> = Promise.resolve(null);
  private stopping = false;
  private readonly endedPromise: Promise<number | NodeJS.Signals | null>;
  private resolveEnded: (code: number | NodeJS.Signals | null) => void = () => {};

  private constructor(
    private readonly spec: ComponentSpec,
    private readonly out: NodeJS.WritableStream,
  ) {
    this.name = spec.name;
    this.endedPromise = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  /** Process id of the current launch. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Starts the component and resolves once its health URL answers 200. `spawned` hears of it at
   * once, before it is healthy (so it can be killed while it starts).
   */
  static async start(
    spec: ComponentSpec,
    out: NodeJS.WritableStream,
    timeoutMs = 60_000,
    spawned?: (component: Component) => void,
  ): Promise<Component> {
    const component = new Component(spec, out);
    spawned?.(component);
    await component.launchAndWait(timeoutMs);
    component.supervise();
    return component;
  }

  /** Resolves when the component ends for good on its own (it does not restart, or stopped restarting). */
  get ended(): Promise<number | NodeJS.Signals | null> {
    return this.endedPromise;
  }

  /**
   * SIGKILL now to the child's whole process group (it leads one: a wrapper's children go too),
   * without waiting: a second Ctrl-C, and the supervisor is about to exit.
   */
  kill(): void {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  async stop(graceMs = 15_000): Promise<number | NodeJS.Signals | null> {
    this.stopping = true;
    this.status = 'stopping';
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.status = 'stopped';
      return this.exitedOnce;
    }
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    try {
      return await this.exitedOnce;
    } finally {
      clearTimeout(timer);
      this.status = 'stopped';
    }
  }

  private spawnOnce(launch: Launch): void {
    const [program, ...args] = launch.command as [string, ...string[]];
    // A process group of its own: a terminal's Ctrl-C reaches `flotilla up` alone, which then
    // stops services before the platform they depend on, instead of everything at once.
    const child = spawn(program, args, {
      cwd: launch.cwd,
      env: launch.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    this.current = launch;
    const prefix = `[${this.name}] `;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream)
        createInterface({ input: stream }).on('line', (line) => this.out.write(`${prefix}${line}\n`));
    }
    this.exitedOnce = once(child, 'exit').then(
      ([code, signal]) => (code ?? signal) as number | NodeJS.Signals,
    );
    child.on('error', (error) => this.out.write(`${prefix}cannot start ${program}: ${error.message}\n`));
  }

  private async launchAndWait(timeoutMs: number): Promise<void> {
    this.status = this.restarts > 0 ? 'restarting' : 'starting';
    const launch = await this.spec.launch();
    this.spawnOnce(launch);
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | NodeJS.Signals | null | undefined;
    void this.exitedOnce.then((code) => {
      exitCode = code;
    });
    while (exitCode === undefined) {
      const ok = await fetch(launch.healthUrl, { signal: AbortSignal.timeout(2_000) }).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) {
        this.status = 'up';
        return;
      }
      if (this.stopping) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new UnavailableError(
          `${this.name} did not become healthy at ${launch.healthUrl} within ${timeoutMs} ms`,
        );
      }
      await sleep(100);
    }
    throw new FlotillaError(
      `${this.name} exited (${String(exitCode)}) before it was ready; its output is above`,
      {
        code: 'COMPONENT_EXITED',
      },
    );
  }

  /** Watches the running process: a crash ends the component, or restarts it with backoff. */
  private supervise(): void {
    void (async () => {
      let upSince = Date.now();
      for (;;) {
        const code = await this.exitedOnce;
        if (this.stopping) return this.resolveEnded(code);
        if (!this.spec.restart) {
          this.status = 'exited';
          return this.resolveEnded(code);
        }
        if (Date.now() - upSince > STABLE_MS) this.restarts = 0;
        const delay = Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** this.restarts);
        this.restarts++;
        this.status = 'restarting';
        this.out.write(`[${this.name}] exited (${String(code)}); restarting in ${delay / 1_000} s\n`);
        await sleep(delay);
        if (this.stopping) return this.resolveEnded(code);
        try {
          await this.launchAndWait(120_000);
          upSince = Date.now();
        } catch (error) {
          this.out.write(`[${this.name}] restart failed: ${(error as Error).message}\n`);
          if (this.stopping) return this.resolveEnded(code);
        }
      }
    })();
  }
}
