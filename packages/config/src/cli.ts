import { existsSync } from 'node:fs';
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
import type pg from 'pg';
import type { ConfigSource } from './server/sources/source.js';

/** `flotilla config-server`: the config server in the foreground. */
/** The server side of the commands, loaded when a command runs. */
const serverSide = () => import('./cli-server.js');

export const configServerCommand: CommandDefinition = {
  name: 'config-server',
  summary: 'Serve layered config and secrets (native and Spring Cloud Config APIs)',
  usage: '[--port <port>] [--host <host>] [--dir <dir>] [--store <postgres-url>] [--require-auth]',
  options: {
    port: { type: 'string', placeholder: '<port>', description: `Port (default ${DefaultPorts.config})` },
    host: { type: 'string', placeholder: '<host>', description: 'Interface to listen on (default 0.0.0.0)' },
    dir: {
      type: 'string',
      placeholder: '<dir>',
      description: 'Directory of YAML files, reloaded on change (default ./config)',
    },
    store: {
      type: 'string',
      placeholder: '<postgres-url>',
      description: 'PostgreSQL config store with revisions (enables the admin API writes)',
    },
    'require-auth': { type: 'boolean', description: 'Refuse reads without a token' },
  },
  async run({ values }, io) {
    const {
      ConfigServer,
      createPool,
      DirectorySource,
      KeyRing,
      PostgresSource,
      PostgresStore,
      redactUrl,
      TokenAuth,
    } = await serverSide();
    const port = portOption(values, 'port') ?? DefaultPorts.config;
    const host = stringOption(values, 'host') ?? '0.0.0.0';
    const storeUrl = stringOption(values, 'store');
    const dirOption = stringOption(values, 'dir');
    const dir =
      dirOption ?? (storeUrl === undefined || existsSync(resolve(io.cwd, 'config')) ? './config' : undefined);
    if (dir !== undefined && !existsSync(resolve(io.cwd, dir))) {
      throw new UsageError(`--dir: directory ${dir} does not exist`);
    }
    const logger = createLogger({ service: 'config-server', destination: io.stderr });
    const keys = KeyRing.fromEnv(io.env);
    const auth = TokenAuth.fromEnv(io.env);
    if (keys.size > 0 && !auth.configured) {
      logger.warn('encryption keys are set but no tokens: no client can read decrypted secrets');
    }

    const sources: ConfigSource[] = [];
    if (dir !== undefined) {
      sources.push(new DirectorySource({ dir: resolve(io.cwd, dir), displayDir: dir, logger }));
    }
    let pool: pg.Pool | undefined;
    if (storeUrl !== undefined) {
      if (!/^postgres(ql)?:\/\//.test(storeUrl)) {
        throw new UsageError(`--store should be a postgres:// URL, got "${redactUrl(storeUrl)}"`);
      }
      pool = createPool({ url: storeUrl, logger, applicationName: 'flotilla-config' });
      const store = new PostgresStore(pool, logger);
      await store.migrate();
      sources.push(new PostgresSource({ store, logger }));
    }
    if (sources.length === 0) throw new ConfigurationError('no config source: pass --dir or --store');

    const server = new ConfigServer({
      sources,
      keys,
      auth,
      requireAuth: values['require-auth'] === true,
      logger,
    });
    const shutdown = waitForShutdown();
    try {
      const url = await server.listen({ port, host });
      io.stdout.write(`config server listening on ${url}\n`);
    } catch (error) {
      await server.close().catch(() => {});
      await pool?.end();
      throw error;
    }
    const signal = await shutdown;
    logger.info({ signal }, 'stopping the config server');
    await server.close();
    await pool?.end();
    return 0;
  },
};

/** `flotilla config-keygen`: a new AES-256 key for `FLOTILLA_CONFIG_KEYS`. */
export const configKeygenCommand: CommandDefinition = {
  name: 'config-keygen',
  summary: 'Print a new secrets key as <id>:<base64> for FLOTILLA_CONFIG_KEYS',
  usage: '[--id <key-id>]',
  options: { id: { type: 'string', placeholder: '<key-id>', description: 'Key id (default k<yyyymmdd>)' } },
  async run({ values }, io) {
    const { KeyRing } = await serverSide();
    const id = stringOption(values, 'id') ?? `k${new Date().toISOString().slice(0, 10).replaceAll('-', '')}`;
    try {
      io.stdout.write(`${KeyRing.generate(id)}\n`);
    } catch (error) {
      throw new UsageError(`--id: ${(error as Error).message}`);
    }
    return 0;
  },
};

/** `flotilla config-encrypt`: encrypts a value locally with the active key of the environment. */
export const configEncryptCommand: CommandDefinition = {
  name: 'config-encrypt',
  summary: 'Encrypt a value with the active key of FLOTILLA_CONFIG_KEYS (prints {cipher}…)',
  usage: '[<value>]   (without a value: reads stdin, which keeps it out of shell history)',
  allowPositionals: true,
  async run({ positionals }, io) {
    const { KeyRing } = await serverSide();
    if (positionals.length > 1) throw new UsageError('expected at most one value to encrypt');
    const keys = KeyRing.fromEnv(io.env);
    const value = positionals[0] ?? (await readStdin()).replace(/\r?\n$/, '');
    io.stdout.write(`${keys.encrypt(value)}\n`);
    return 0;
  },
};

/** `flotilla config-reencrypt`: moves the secrets of a config directory to the active key. */
export const configReencryptCommand: CommandDefinition = {
  name: 'config-reencrypt',
  summary: 'Re-encrypt the {cipher} values of a YAML directory with the active key (after a rotation)',
  usage: '--dir <dir>',
  options: { dir: { type: 'string', placeholder: '<dir>', description: 'Directory of YAML files' } },
  async run({ values }, io) {
    const { KeyRing, reencryptDirectory } = await serverSide();
    const dir = stringOption(values, 'dir');
    if (dir === undefined) throw new UsageError('--dir is required');
    if (!existsSync(resolve(io.cwd, dir))) throw new UsageError(`--dir: directory ${dir} does not exist`);
    const keys = KeyRing.fromEnv(io.env);
    if (keys.activeId === undefined)
      throw new ConfigurationError('no keys: set FLOTILLA_CONFIG_KEYS or FLOTILLA_CONFIG_KEYS_DIR');
    const files = await reencryptDirectory(resolve(io.cwd, dir), keys);
    for (const f of files)
      io.stdout.write(`${f.file}: ${f.values} value(s) re-encrypted with ${keys.activeId}\n`);
    if (files.length === 0) io.stdout.write(`nothing to do: every value is under ${keys.activeId}\n`);
    return 0;
  },
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Commands this package adds to `flotilla`. */
export const commands: CommandDefinition[] = [
  configServerCommand,
  configKeygenCommand,
  configEncryptCommand,
  configReencryptCommand,
];
