/** Helpers shared by this package's tests (excluded from the build, not exported). */
export { eventually } from '@flotilla/testkit';

import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger, type Logger } from '@flotilla/core';
import { stringify } from 'yaml';
import type { ConfigTree } from './flatten.js';

/** Writes a file the safe way: a temporary sibling, then a rename over the target. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, text);
  await rename(temp, path);
}

/** Writes `data` as `<dir>/<name>.yaml` atomically. */
export function writeYaml(dir: string, name: string, data: ConfigTree): Promise<void> {
  return writeAtomically(join(dir, `${name}.yaml`), stringify(data));
}

/** A logger whose lines are kept in memory, to assert what is (never) logged. */
export function captureLogs(service = 'test'): { logger: Logger; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  return { logger: createLogger({ service, level: 'debug', destination: stream }), text: () => text };
}

/** Two fixed AES-256 keys (base64) for tests. */
export const TEST_KEYS = {
  k1: Buffer.alloc(32, 1).toString('base64'),
  k2: Buffer.alloc(32, 2).toString('base64'),
};

/** Tokens long enough for `TokenAuth`. */
export const TOKENS = {
  orders: 'orders-token-0123456789',
  billing: 'billing-token-0123456789',
  operator: 'operator-token-0123456789',
};
