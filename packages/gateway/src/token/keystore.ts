import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigurationError } from '@flotilla/core';
import {
  type CryptoKey,
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
} from 'jose';

/** Signing algorithm of the development issuer. */
export const ISSUER_ALG = 'ES256';

/** File, inside the data dir, that holds the private signing key as a JWK. */
export const KEY_FILE = 'signing-key.json';

/** The issuer's signing key. */
export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** Public half as a JWK with `kid`, `alg` and `use`, as the JWKS serves it. */
  publicJwk: JWK;
}

/**
 * Loads the signing key from `dataDir`, creating it on first use. The key is written to a
 * private temp file (mode 0600) and then hard-linked into place: `link` fails if another
 * process created the key first, so two processes starting together end up with the same key
 * instead of the last writer silently replacing the key the first one signs with.
 */
export async function loadOrCreateKey(dataDir: string): Promise<SigningKey> {
  const file = join(dataDir, KEY_FILE);
  const existing = await readKey(file);
  if (existing) return existing;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = await generateKeyPair(ISSUER_ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = ISSUER_ALG;
  const temp = join(dataDir, `.${KEY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  await writeFile(temp, `${JSON.stringify(jwk, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(temp, 0o600); // the umask may have narrowed it further, never widened; be exact
  try {
    await link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
  const key = await readKey(file);
  if (!key) throw new ConfigurationError(`${file} vanished while it was being created`);
  return key;
}

async function readKey(file: string): Promise<SigningKey | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
    if (jwk.kty !== 'EC' || typeof jwk.d !== 'string') throw new Error('not a private EC JWK');
  } catch (cause) {
    throw new ConfigurationError(`${file} should hold the issuer's private JWK, got unreadable content`, {
      cause,
      data: { field: file },
    });
  }
  const alg = jwk.alg ?? ISSUER_ALG;
  const { d: _d, ...pub } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(pub));
  const privateKey = (await importJWK(jwk, alg)) as CryptoKey;
  return {
    kid,
    alg,
    privateKey,
    publicJwk: { kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid, alg, use: 'sig' },
  };
}
