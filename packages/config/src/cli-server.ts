/**
 * What the config commands need from the server side, loaded by `cli.ts` only when one of them
 * runs, so `flotilla --help` and the other packages' commands never load fastify or pg.
 */
export { createPool, redactUrl } from '@flotilla/postgres';
export { TokenAuth } from './server/auth.js';
export { ConfigServer } from './server/config-server.js';
export { reencryptDirectory } from './server/reencrypt-files.js';
export { KeyRing } from './server/secrets.js';
export { DirectorySource } from './server/sources/directory-source.js';
export { PostgresSource } from './server/sources/postgres-source.js';
export { PostgresStore } from './server/sources/postgres-store.js';
