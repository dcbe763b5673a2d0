import { once } from 'node:events';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import {
  type CommandDefinition,
  createLogger,
  portOption,
  stringOption,
  UsageError,
  waitForShutdown,
} from '@flotilla/core';

// Kept here rather than imported from issuer.ts, so loading the CLI never loads jose.
const DEFAULT_DIR = '.flotilla/issuer';
const DEFAULT_PORT = 8099;

const dataDirOption = {
  type: 'string',
  placeholder: '<dir>',
  description: `Where the signing key lives (default ${DEFAULT_DIR})`,
} as const;
const issuerOption = {
  type: 'string',
  placeholder: '<url>',
  description: `Issuer (iss) and base URL (default http://127.0.0.1:${DEFAULT_PORT})`,
} as const;

/** `flotilla token`: prints a JWT signed with the development issuer's key (works offline). */
export const tokenCommand: CommandDefinition = {
  name: 'token',
  summary: 'Print a development JWT signed with the local issuer key',
  usage:
    '--sub <subject> [--scope "<scopes>"] [--aud <audience>] [--ttl 1h] [--claim k=v …] [--data-dir <dir>]',
  options: {
    sub: { type: 'string', placeholder: '<subject>', description: 'Subject (sub) of the token' },
    scope: { type: 'string', placeholder: '"<scopes>"', description: 'Space-separated scopes' },
    aud: { type: 'string', placeholder: '<audience>', description: 'Audience (default flotilla)' },
    ttl: { type: 'string', placeholder: '<duration>', description: 'Lifetime, e.g. 15m, 1h (default 1h)' },
    claim: {
      type: 'string',
      placeholder: '<name=value>',
      multiple: true,
      description: 'Extra string claim; repeat for several',
    },
    'data-dir': dataDirOption,
    issuer: issuerOption,
  },
  async run({ values }, io) {
    const sub = stringOption(values, 'sub');
    if (sub === undefined || sub === '') throw new UsageError('--sub is required, e.g. --sub alice');
    const claims: Record<string, string> = {};
    const raw = values.claim;
    for (const item of Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) {
      const text = String(item);
      const eq = text.indexOf('=');
      if (eq <= 0) throw new UsageError(`--claim should be name=value, got "${text}"`);
      claims[text.slice(0, eq)] = text.slice(eq + 1);
    }
    const ttl = stringOption(values, 'ttl');
    const { createDevIssuer } = await import('./issuer.js');
    const issuer = await createDevIssuer({
      dataDir: resolve(io.cwd, stringOption(values, 'data-dir') ?? DEFAULT_DIR),
      issuer: stringOption(values, 'issuer') ?? `http://127.0.0.1:${DEFAULT_PORT}`,
    }).catch(usage);
    const token = await issuer
      .sign({ sub, scope: stringOption(values, 'scope'), audience: stringOption(values, 'aud'), ttl, claims })
      .catch(usage);
    io.stdout.write(`${token}\n`);
    return 0;
  },
};

/** `flotilla issuer`: serves the development issuer's JWKS and token endpoint in the foreground. */
export const issuerCommand: CommandDefinition = {
  name: 'issuer',
  summary: 'Run the development token issuer (JWKS, OpenID discovery, client-credentials tokens)',
  usage: '[--port <port>] [--host <host>] [--data-dir <dir>] [--clients <file>] [--issuer <url>]',
  options: {
    port: { type: 'string', placeholder: '<port>', description: `Port (default ${DEFAULT_PORT})` },
    host: { type: 'string', placeholder: '<host>', description: 'Interface (default 127.0.0.1)' },
    clients: {
      type: 'string',
      placeholder: '<file>',
      description: 'OAuth2 clients, JSON or YAML: [{ clientId, secret, scopes, audience? }]',
    },
    'data-dir': dataDirOption,
    issuer: issuerOption,
  },
  async run({ values }, io) {
    const port = portOption(values, 'port') ?? DEFAULT_PORT;
    const host = stringOption(values, 'host') ?? '127.0.0.1';
    const logger = createLogger({ service: 'issuer', destination: io.stdout });
    const shutdown = waitForShutdown();
    const [{ createDevIssuer }, { readClientsFile }] = await Promise.all([
      import('./issuer.js'),
      import('./clients.js'),
    ]);
    const clientsFile = stringOption(values, 'clients');
    const clients = clientsFile ? await readClientsFile(resolve(io.cwd, clientsFile)).catch(usage) : [];
    const issuer = await createDevIssuer({
      dataDir: resolve(io.cwd, stringOption(values, 'data-dir') ?? DEFAULT_DIR),
      issuer: stringOption(values, 'issuer') ?? `http://${host}:${port}`,
      clients,
    }).catch(usage);
    const server = createServer((req, res) => issuer.handler(req, res));
    server.listen(port, host);
    await once(server, 'listening');
    logger.info(
      { issuer: issuer.issuer, kid: issuer.kid, clients: clients.length },
      `issuer listening on http://${host}:${port}`,
    );
    const signal = await shutdown;
    logger.info({ signal }, 'issuer stopping');
    server.close();
    server.closeIdleConnections();
    await once(server, 'close');
    return 0;
  },
};

/** Configuration errors from flags (a bad --ttl, an unreadable --clients file) are usage errors. */
function usage(error: unknown): never {
  if (error instanceof Error && (error as { code?: string }).code === 'INVALID_CONFIGURATION') {
    throw new UsageError(error.message, { cause: error });
  }
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new UsageError((error as Error).message, { cause: error });
  }
  throw error;
}

/** Commands this module adds to `flotilla`. */
export const tokenCommands: CommandDefinition[] = [tokenCommand, issuerCommand];
