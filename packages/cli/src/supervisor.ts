import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { FlotillaError, UnavailableError } from '@flotilla/core';

/** A platform component run as a child `flotilla <command>` process. */
export interface ComponentSpec {
  /** Short name used as the output prefix, e.g. `registry`. */
  name: string;
  /** Arguments after `flotilla`, e.g. `['registry', '--port', '8761']`. */
  args: string[];
  /** URL answering 200 once the component is ready. */
  healthUrl: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const BIN = new URL('../bin/flotilla.mjs', import.meta.url);

/**
 * One running component. Its output is copied line by line with a `[name]` prefix, so the
 * interleaved logs of a whole system stay readable.
 */
export class Component {
  readonly name: string;
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | NodeJS.Signals | null>;

  private constructor(spec: ComponentSpec, out: NodeJS.WritableStream) {
    this.name = spec.name;
    this.child = spawn(process.execPath, [fileURLToPath(BIN), ...spec.args], {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const prefix = `[${spec.name}] `;
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => out.write(`${prefix}${line}\n`));
    }
    this.exited = once(this.child, 'exit').then(
      ([code, signal]) => (code ?? signal) as number | NodeJS.Signals,
    );
  }

  /** Starts the component and resolves once its health URL answers 200. */
  static async start(
    spec: ComponentSpec,
    out: NodeJS.WritableStream,
    timeoutMs = 60_000,
  ): Promise<Component> {
    const component = new Component(spec, out);
    const deadline = Date.now() + timeoutMs;
    let exitCode: number | NodeJS.Signals | null | undefined;
    void component.exited.then((code) => {
      exitCode = code;
    });
    while (exitCode === undefined) {
      const ok = await fetch(spec.healthUrl).then(
        (res) => res.ok,
        () => false,
      );
      if (ok) return component;
      if (Date.now() > deadline) {
        await component.stop();
        throw new UnavailableError(
          `${spec.name} did not become healthy at ${spec.healthUrl} within ${timeoutMs} ms`,
        );
      }
      await sleep(100);
    }
    throw new FlotillaError(
      `${spec.name} exited (${String(exitCode)}) before it was ready; its output is above`,
      {
        code: 'COMPONENT_EXITED',
      },
    );
  }

  /** Resolves when the component exits on its own (a crash, from the supervisor's view). */
  get ended(): Promise<number | NodeJS.Signals | null> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code or signal. */
  async stop(graceMs = 15_000): Promise<number | NodeJS.Signals | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
