import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import {
  type CommandDefinition,
  ConfigurationError,
  createLogger,
  DefaultPorts,
  portOption,
  stringOption,
  UsageError,
  waitForShutdown,
} from '@flotilla/core';

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

async function choosePort(
  values: Record<string, unknown>,
  flag: string,
  fromManifest: number | undefined,
  fallback: number,
): Promise<number> {
  const port = portOption(values as never, flag) ?? fromManifest ?? fallback;
  if (!(await portFree(port))) {
    throw new UsageError(`port ${port} is already in use; choose another with --${flag}`);
  }
  return port;
}

const portFlag = (description: string) => ({ type: 'string' as const, placeholder: '<port>', description });

/**
 * `flotilla up`: runs a whole system in the foreground from its manifest (`flotilla.yaml`):
 * embedded PostgreSQL, registry, config server, token issuer and gateway, then every service
 * instance on a free port, each level of `dependsOn` once the previous one is ready. Crashed
 * processes restart with backoff; Ctrl-C or SIGTERM stops everything in reverse order. Without
 * a manifest it runs the platform alone.
 */
export const upCommand: CommandDefinition = {
  name: 'up',
  summary: 'Run a Flotilla system in the foreground (from flotilla.yaml, or the platform alone)',
  usage:
    '[-f flotilla.yaml] [--scale <service>=<n> …] [--data-dir <dir>] [--port <port>] [--registry-port <port>] [--config-port <port>] [--config-dir <dir>] [--gateway-port <port>] [--gateway-admin-port <port>] [--issuer-port <port>]',
  options: {
    file: {
      type: 'string',
      short: 'f',
      placeholder: '<file>',
      description: 'System manifest (default ./flotilla.yaml when present)',
    },
    scale: {
      type: 'string',
      multiple: true,
      placeholder: '<service>=<n>',
      description: 'Instances of a service, overriding the manifest (repeatable)',
    },
    'data-dir': {
      type: 'string',
      placeholder: '<dir>',
      description: 'PostgreSQL data directory (default .flotilla/postgres)',
    },
    port: portFlag('Preferred PostgreSQL port (default 5432, else a free one)'),
    'registry-port': portFlag(`Registry port (default ${DefaultPorts.registry})`),
    'config-port': portFlag(`Config server port (default ${DefaultPorts.config})`),
    'config-dir': {
      type: 'string',
      placeholder: '<dir>',
      description:
        "Directory of config YAML (default: the manifest's, else ./config when present, else .flotilla/config)",
    },
    'gateway-port': portFlag(`Gateway port (default ${DefaultPorts.gateway})`),
    'gateway-admin-port': portFlag(`Gateway admin port (default ${DefaultPorts.gatewayAdmin})`),
    'issuer-port': portFlag('Development token issuer port (default 8099)'),
  },
  async run({ values }, io) {
    const log = createLogger({ service: 'flotilla-up', destination: io.stderr });
    const file =
      stringOption(values, 'file') ??
      (existsSync(resolve(io.cwd, 'flotilla.yaml')) ? 'flotilla.yaml' : undefined);
    const { loadManifest, parseScale } = await import('../up/manifest.js');
    const { System, defaultConfigDir } = await import('../up/system.js');
    let manifest: Awaited<ReturnType<typeof loadManifest>> | undefined;
    let scale = new Map<string, number>();
    try {
      manifest = file ? await loadManifest(resolve(io.cwd, file)) : undefined;
      const scales = values.scale;
      scale = parseScale(Array.isArray(scales) ? scales.map(String) : [], manifest?.manifest ?? {});
    } catch (error) {
      if (error instanceof ConfigurationError) throw new UsageError(error.message);
      throw error;
    }
    const platform = manifest?.manifest.platform ?? {};
    const ports = {
      registry: await choosePort(values, 'registry-port', platform.registry?.port, DefaultPorts.registry),
      config: await choosePort(values, 'config-port', platform.config?.port, DefaultPorts.config),
      issuer: platform.issuer ? await choosePort(values, 'issuer-port', platform.issuer.port, 8099) : 0,
      gateway: platform.gateway
        ? await choosePort(values, 'gateway-port', platform.gateway.port, DefaultPorts.gateway)
        : 0,
      gatewayAdmin: platform.gateway
        ? await choosePort(
            values,
            'gateway-admin-port',
            platform.gateway.adminPort,
            DefaultPorts.gatewayAdmin,
          )
        : 0,
    };
    const configFlag = stringOption(values, 'config-dir');
    const configDir = configFlag
      ? resolve(io.cwd, configFlag)
      : defaultConfigDir(manifest?.dir ?? io.cwd, io.cwd, platform.config?.dir);
    await mkdir(configDir, { recursive: true });

    // A second signal: everything is killed at once before `flotilla up` exits.
    let system: InstanceType<typeof System> | undefined;
    const shutdown = waitForShutdown(undefined, () => system?.killNow());
    system = new System({
      manifest,
      cwd: io.cwd,
      env: io.env,
      dataDir: stringOption(values, 'data-dir'),
      postgresPort: portOption(values, 'port'),
      ports,
      configDir,
      scale,
      out: io.stdout,
      log,
    });
    try {
      const starting = system.start();
      const first = await Promise.race([
        starting.then(() => undefined),
        shutdown.then((signal) => ({ signal })),
      ]);
      if (first) {
        log.info({ signal: first.signal }, 'stopping while starting');
        await starting.catch(() => {});
        await system.stop();
        io.stdout.write('Flotilla stopped.\n');
        return 0;
      }
      io.stdout.write(
        manifest
          ? `Flotilla is up: ${manifest.order.length} services. Press Ctrl-C to stop.\n`
          : 'Flotilla is up. Press Ctrl-C to stop.\n',
      );
      const reason = await Promise.race([shutdown.then((signal) => ({ signal })), system.crashed()]);
      if ('signal' in reason) log.info({ signal: reason.signal }, 'stopping');
      else
        log.error({ component: reason.name, code: reason.code }, 'a component exited; stopping the system');
      await system.stop();
      io.stdout.write('Flotilla stopped.\n');
      return 'signal' in reason ? 0 : 1;
    } catch (error) {
      await system.stop();
      throw error;
    }
  },
};
