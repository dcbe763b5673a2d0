import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { ConfigurationError, EnvVars, type Logger } from '@flotilla/core';
import { databaseUrl, EmbeddedPostgres, ensureDatabase } from '@flotilla/postgres';
import { Component, flotillaCommand } from '../supervisor.js';
import type { LoadedManifest } from './manifest.js';

/** Ports and paths of one `flotilla up` run, flags already applied over the manifest. */
export interface SystemOptions {
  manifest: LoadedManifest | undefined;
  /** Where `.flotilla/` state lives (the current directory). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  dataDir: string | undefined;
  postgresPort: number | undefined;
  ports: { registry: number; config: number; issuer: number; gateway: number; gatewayAdmin: number };
  configDir: string;
  scale: Map<string, number>;
  out: NodeJS.WritableStream;
  log: Logger;
}

/** What `flotilla status` reads: `.flotilla/up.json`. */
export interface SystemState {
  pid: number;
  startedAt: string;
  manifest: string | undefined;
  registryUrl: string;
  components: { name: string; url: string; pid: number | undefined; status: string }[];
}

export const STATE_FILE = 'up.json';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A running system: platform components first (PostgreSQL, registry, config server, token
 * issuer, gateway), then each service's instances, a dependency level at a time. Stops in
 * reverse order.
 */
export class System {
  private pg: EmbeddedPostgres | undefined;
  private readonly platform: Component[] = [];
  /** Service instances by start level, for stopping in reverse. */
  private readonly levels: Component[][] = [];
  private readonly stateDir: string;
  registryUrl = '';
  private stateTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Every component started, healthy or not yet (what `killNow` kills). */
  private readonly spawned = new Set<Component>();
  private readonly track = (component: Component) => this.spawned.add(component);

  constructor(private readonly options: SystemOptions) {
    this.stateDir = resolve(options.cwd, '.flotilla');
  }

  /** Every component and instance, platform first. */
  get components(): Component[] {
    return [...this.platform, ...this.levels.flat()];
  }

  async start(): Promise<void> {
    const { options } = this;
    const { manifest, out, ports } = options;
    const platform = manifest?.manifest.platform ?? {};
    await mkdir(this.stateDir, { recursive: true });
    // The registry's snapshot carries instances across a registry restart within one run; a new
    // run starts empty, so instances of the last run (a killed one among them) are not served.
    await rm(resolve(this.stateDir, 'registry.json'), { force: true });

    let postgresServer: string | undefined;
    const external = options.env[EnvVars.databaseUrl];
    if (platform.postgres === 'external' || external) {
      postgresServer = options.env[EnvVars.postgresUrl] ?? external;
      out.write(
        `PostgreSQL      external (${external ? EnvVars.databaseUrl : EnvVars.postgresUrl} is set)\n`,
      );
    } else {
      this.pg = new EmbeddedPostgres({
        dataDir: options.dataDir,
        port: options.postgresPort,
        logger: options.log,
      });
      await this.pg.start();
      postgresServer = this.pg.url;
      out.write(`PostgreSQL      ${this.pg.url}   (embedded)\n`);
    }
    const platformEnv: NodeJS.ProcessEnv = {
      ...options.env,
      FLOTILLA_ENV: options.env.FLOTILLA_ENV ?? platform.env ?? 'dev',
    };
    if (postgresServer) {
      platformEnv[EnvVars.databaseUrl] = external ?? postgresServer;
    }

    this.registryUrl = `http://127.0.0.1:${ports.registry}`;
    await this.startPlatform(
      'registry',
      flotillaCommand(
        'registry',
        '--host',
        '127.0.0.1',
        '--port',
        String(ports.registry),
        '--snapshot',
        resolve(this.stateDir, 'registry.json'),
      ),
      `${this.registryUrl}/health`,
      platformEnv,
    );
    out.write(`registry        ${this.registryUrl}   (Eureka API at ${this.registryUrl}/eureka)\n`);
    const configUrl = `http://127.0.0.1:${ports.config}`;
    await this.startPlatform(
      'config',
      flotillaCommand(
        'config-server',
        '--host',
        '127.0.0.1',
        '--port',
        String(ports.config),
        '--dir',
        options.configDir,
      ),
      `${configUrl}/health`,
      { ...platformEnv, [EnvVars.registryUrl]: this.registryUrl },
    );
    out.write(`config server   ${configUrl}   (files in ${options.configDir})\n`);

    const serviceEnv: NodeJS.ProcessEnv = {
      ...platformEnv,
      [EnvVars.registryUrl]: this.registryUrl,
      [EnvVars.configUrl]: configUrl,
    };
    // Services get a server to create their own databases on, not a database.
    delete serviceEnv[EnvVars.databaseUrl];
    if (postgresServer) serviceEnv[EnvVars.postgresUrl] = postgresServer;
    if (platform.bus) serviceEnv[EnvVars.busUrl] = await this.busUrl(platform.bus, postgresServer);

    if (platform.issuer) {
      const issuerUrl = `http://127.0.0.1:${ports.issuer}`;
      // Routes and services name the issuer as `${env:FLOTILLA_ISSUER_URL}`.
      serviceEnv.FLOTILLA_ISSUER_URL = issuerUrl;
      await this.startPlatform(
        'issuer',
        flotillaCommand(
          'issuer',
          '--port',
          String(ports.issuer),
          '--data-dir',
          resolve(this.stateDir, 'issuer'),
          '--issuer',
          issuerUrl,
        ),
        `${issuerUrl}/.well-known/jwks.json`,
        platformEnv,
      );
      out.write(`token issuer    ${issuerUrl}   (flotilla token --sub alice --scope "play:read")\n`);
    }
    if (platform.gateway && manifest) {
      const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
      await this.startPlatform(
        'gateway',
        flotillaCommand(
          'gateway',
          '--port',
          String(ports.gateway),
          '--admin-port',
          String(ports.gatewayAdmin),
          '--routes',
          resolve(manifest.dir, platform.gateway.routes),
          '--registry-url',
          this.registryUrl,
        ),
        `http://127.0.0.1:${ports.gatewayAdmin}/health`,
        serviceEnv,
      );
      out.write(`gateway         ${gatewayUrl}   (admin http://127.0.0.1:${ports.gatewayAdmin})\n`);
    }
    await this.writeState();
    if (manifest) await this.startServices(manifest, serviceEnv);
    await this.writeState();
    // Restarted processes get new pids and ports: keep `flotilla status` current.
    this.stateTimer = setInterval(() => void this.writeState().catch(() => {}), 2_000);
  }

  /** Stops services (last level first), then the platform in reverse, then PostgreSQL. */
  async stop(): Promise<void> {
    clearInterval(this.stateTimer);
    this.stopped = true;
    for (const level of this.levels.reverse()) await Promise.all(level.map((c) => c.stop()));
    for (const component of this.platform.reverse()) await component.stop();
    await this.pg?.stop();
    await rm(resolve(this.stateDir, STATE_FILE), { force: true });
  }

  /**
   * Kills every process of the system at once (SIGKILL), without waiting: for a second Ctrl-C,
   * after which `flotilla up` exits (its components run in process groups of their own, so
   * nothing else would stop them). Components still starting go too; the embedded PostgreSQL
   * does once it runs (one still starting is not reached). It recovers at its next start.
   */
  killNow(): void {
    clearInterval(this.stateTimer);
    this.stopped = true;
    for (const component of this.spawned) component.kill();
    const pid = this.pg?.serverPid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }

  /** Resolves with the first component that ended for good (a platform crash). */
  crashed(): Promise<{ name: string; code: number | NodeJS.Signals | null }> {
    return Promise.race(this.components.map((c) => c.ended.then((code) => ({ name: c.name, code }))));
  }

  private async startPlatform(name: string, command: string[], healthUrl: string, env: NodeJS.ProcessEnv) {
    const component = await Component.start(
      { name, restart: true, launch: () => ({ command, healthUrl, env, cwd: this.options.cwd }) },
      this.options.out,
      undefined,
      this.track,
    );
    this.platform.push(component);
  }

  private async busUrl(bus: string, postgresServer: string | undefined): Promise<string> {
    if (bus !== 'postgres') return bus;
    if (!postgresServer) throw new ConfigurationError('platform.bus: postgres needs a PostgreSQL server');
    await ensureDatabase(postgresServer, 'flotilla_bus');
    return databaseUrl(postgresServer, 'flotilla_bus');
  }

  private async startServices(manifest: LoadedManifest, env: NodeJS.ProcessEnv): Promise<void> {
    const services = manifest.manifest.services ?? {};
    const started = new Set<string>();
    const remaining = [...manifest.order];
    while (remaining.length > 0) {
      const level = remaining.filter((n) => (services[n]?.dependsOn ?? []).every((d) => started.has(d)));
      for (const name of level) remaining.splice(remaining.indexOf(name), 1);
      const components: Component[] = [];
      const starting = level.flatMap((name) => {
        const spec = services[name];
        if (!spec) return [];
        const count = this.options.scale.get(name) ?? spec.instances ?? 1;
        return Array.from({ length: count }, (_, i) =>
          Component.start(
            {
              name: count > 1 ? `${name}#${i + 1}` : name,
              restart: true,
              launch: async () => {
                const port = await freePort();
                return {
                  command: spec.command,
                  healthUrl: `http://127.0.0.1:${port}/health/ready`,
                  cwd: manifest.dir,
                  env: { ...env, ...spec.env, PORT: String(port), FLOTILLA_INSTANCE: String(i + 1) },
                };
              },
            },
            this.options.out,
            120_000,
            this.track,
          ).then((c) => {
            components.push(c);
            this.options.out.write(
              `up              ${c.name}   ${new URL(c.current?.healthUrl ?? '').origin}\n`,
            );
            return c;
          }),
        );
      });
      const names = level.join(', ');
      this.options.out.write(`starting        ${names}\n`);
      const waiting = setInterval(() => {
        const ready = new Set(components.map((c) => c.name));
        this.options.out.write(
          `waiting         ${level.filter((n) => ![...ready].some((r) => r === n || r.startsWith(`${n}#`))).join(', ') || names}\n`,
        );
      }, 5_000);
      try {
        const results = await Promise.allSettled(starting);
        this.levels.push(components);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        clearInterval(waiting);
      }
      for (const name of level) started.add(name);
    }
  }

  private async writeState(): Promise<void> {
    if (this.stopped) return;
    const state: SystemState = {
      pid: process.pid,
      startedAt: new Date().toISOString(),
      manifest: this.options.manifest?.file,
      registryUrl: this.registryUrl,
      components: this.components.map((c) => ({
        name: c.name,
        url: c.current ? new URL(c.current.healthUrl).origin : '',
        pid: c.pid,
        status: c.status,
      })),
    };
    await writeFile(resolve(this.stateDir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
  }
}

/** `./config` next to the manifest (or the current directory) when present, else `.flotilla/config`. */
export function defaultConfigDir(base: string, cwd: string, fromManifest: string | undefined): string {
  if (fromManifest) return resolve(base, fromManifest);
  return existsSync(resolve(base, 'config')) ? resolve(base, 'config') : resolve(cwd, '.flotilla/config');
}
