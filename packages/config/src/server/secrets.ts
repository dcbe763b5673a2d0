import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from '@flotilla/core';
import { ConfigDecryptError } from '../errors.js';
import { type ConfigTree, isTree } from '../flatten.js';

/**
 * Encrypted values: `{cipher}{key:<id>}<base64 of version | iv | tag | ciphertext>`, AES-256-GCM
 * with a random 96-bit IV and the key id bound in as additional data (a ciphertext relabelled
 * with another key id fails authentication). The `{cipher}` prefix is Spring Cloud Config's;
 * `{key:…}` is the same prefix Spring uses to pick a key.
 */

export const CIPHER_PREFIX = '{cipher}';
const FORMAT_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const CIPHERTEXT = /^\{cipher\}(?:\{key:([^}]*)\})?(.*)$/s;

/** One AES-256 key and its id. */
export interface SecretKey {
  id: string;
  key: Buffer;
}

/** Where keys come from (environment variable names documented in the README). */
export interface KeyEnvironment {
  FLOTILLA_CONFIG_KEYS?: string;
  FLOTILLA_CONFIG_KEYS_DIR?: string;
  FLOTILLA_CONFIG_ACTIVE_KEY?: string;
}

/** Whether a value is stored encrypted. */
export function isEncrypted(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(CIPHER_PREFIX);
}

/** Decodes a base64 key, checking it is 32 bytes; the message never contains the key. */
export function parseKey(id: string, base64: string, where: string): SecretKey {
  if (!KEY_ID.test(id))
    throw new ConfigurationError(`${where}: key id "${id}" should match ${KEY_ID.source}`);
  const key = Buffer.from(base64.trim(), 'base64');
  if (key.length !== 32) {
    throw new ConfigurationError(
      `${where}: key "${id}" should be 32 bytes in base64 (AES-256), got ${key.length} bytes`,
    );
  }
  return { id, key };
}

/** A set of keys: the active one encrypts, all of them decrypt (so keys can rotate). */
export class KeyRing {
  private readonly keys = new Map<string, Buffer>();
  readonly activeId: string | undefined;

  constructor(keys: readonly SecretKey[], activeId?: string) {
    for (const k of keys) this.keys.set(k.id, k.key);
    const active = activeId ?? keys[keys.length - 1]?.id;
    if (active !== undefined && !this.keys.has(active)) {
      throw new ConfigurationError(
        `FLOTILLA_CONFIG_ACTIVE_KEY "${active}" is not one of the keys (${this.ids().join(', ') || 'none'})`,
      );
    }
    this.activeId = active;
  }

  /**
   * Keys from `FLOTILLA_CONFIG_KEYS` (`id1:base64,id2:base64`) and/or `FLOTILLA_CONFIG_KEYS_DIR`
   * (one file per key, named by its id, holding the base64 key: a mounted Kubernetes secret).
   * The active key is `FLOTILLA_CONFIG_ACTIVE_KEY`, else the last of the list, else the last
   * file name in sort order.
   */
  static fromEnv(env: KeyEnvironment = process.env as KeyEnvironment): KeyRing {
    const keys: SecretKey[] = [];
    const dir = env.FLOTILLA_CONFIG_KEYS_DIR;
    if (dir) {
      let names: string[];
      try {
        names = readdirSync(dir).filter((n) => !n.startsWith('.'));
      } catch (cause) {
        throw new ConfigurationError(`FLOTILLA_CONFIG_KEYS_DIR: cannot read ${dir}`, { cause });
      }
      for (const name of names.sort()) {
        keys.push(parseKey(name, readFileSync(join(dir, name), 'utf8'), `FLOTILLA_CONFIG_KEYS_DIR ${dir}`));
      }
    }
    for (const entry of (env.FLOTILLA_CONFIG_KEYS ?? '').split(',')) {
      if (entry.trim() === '') continue;
      const colon = entry.indexOf(':');
      if (colon <= 0)
        throw new ConfigurationError('FLOTILLA_CONFIG_KEYS should be id:base64key[,id:base64key…]');
      keys.push(parseKey(entry.slice(0, colon).trim(), entry.slice(colon + 1), 'FLOTILLA_CONFIG_KEYS'));
    }
    return new KeyRing(keys, env.FLOTILLA_CONFIG_ACTIVE_KEY || undefined);
  }

  /** A new random key id + base64 key, for `flotilla config-keygen`. */
  static generate(id: string): string {
    const key = randomBytes(32).toString('base64');
    parseKey(id, key, 'key id');
    return `${id}:${key}`;
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  get size(): number {
    return this.keys.size;
  }

  /** Encrypts with the active key (or `keyId`). */
  encrypt(plaintext: string, keyId = this.activeId): string {
    if (keyId === undefined)
      throw new ConfigurationError('no encryption key configured (FLOTILLA_CONFIG_KEYS)');
    const key = this.keys.get(keyId);
    if (!key) throw new ConfigurationError(`unknown key id "${keyId}"`);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(keyId));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const payload = Buffer.concat([Buffer.from([FORMAT_VERSION]), iv, cipher.getAuthTag(), body]);
    return `${CIPHER_PREFIX}{key:${keyId}}${payload.toString('base64')}`;
  }

  /** Decrypts a `{cipher}` value; throws `ConfigDecryptError` saying why (never what). */
  decrypt(value: string): string {
    const match = CIPHERTEXT.exec(value);
    if (!match) throw new ConfigDecryptError('not a {cipher} value');
    const keyId = match[1];
    if (keyId === undefined) throw new ConfigDecryptError('ciphertext has no {key:<id>} prefix');
    const key = this.keys.get(keyId);
    if (!key) {
      const known = this.ids();
      throw new ConfigDecryptError(
        `unknown key id "${keyId}" (${known.length ? `known: ${known.join(', ')}` : 'no keys configured'})`,
      );
    }
    const payload = Buffer.from(match[2] as string, 'base64');
    if (payload.length < 1 + IV_BYTES + TAG_BYTES || payload[0] !== FORMAT_VERSION) {
      throw new ConfigDecryptError('malformed ciphertext');
    }
    const iv = payload.subarray(1, 1 + IV_BYTES);
    const tag = payload.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(aad(keyId));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(payload.subarray(1 + IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new ConfigDecryptError(`authentication failed with key "${keyId}": the ciphertext was altered`);
    }
  }

  /** Re-encrypts a `{cipher}` value with the active key (unchanged if already under it). */
  reencrypt(value: string): string {
    if (CIPHERTEXT.exec(value)?.[1] === this.activeId) return value;
    return this.encrypt(this.decrypt(value));
  }

  /** The key id a `{cipher}` value names, if any. */
  static keyIdOf(value: string): string | undefined {
    return CIPHERTEXT.exec(value)?.[1];
  }
}

function aad(keyId: string): Buffer {
  return Buffer.from(`flotilla-config:v${FORMAT_VERSION}:${keyId}`);
}

/** Dotted paths (`a.list[0]` inside lists) of every `{cipher}` value of a tree. */
export function cipherPaths(tree: ConfigTree): string[] {
  const out: string[] = [];
  const visit = (value: unknown, path: string): void => {
    if (isEncrypted(value)) out.push(path);
    else if (Array.isArray(value)) for (const [i, v] of value.entries()) visit(v, `${path}[${i}]`);
    else if (isTree(value))
      for (const [k, v] of Object.entries(value)) visit(v, path === '' ? k : `${path}.${k}`);
  };
  visit(tree, '');
  return out.sort();
}

/** A failed decryption: where, and why. */
export interface DecryptFailure {
  path: string;
  message: string;
}

/**
 * Copy of `tree` with every `{cipher}` value decrypted. Values that fail are left out of the
 * copy and listed in `failures`, so the caller can refuse to serve or mark them.
 */
export function decryptTree(
  tree: ConfigTree,
  keys: KeyRing,
): { tree: ConfigTree; failures: DecryptFailure[] } {
  const failures: DecryptFailure[] = [];
  const visit = (value: unknown, path: string): unknown => {
    if (isEncrypted(value)) {
      try {
        return keys.decrypt(value);
      } catch (error) {
        failures.push({ path, message: (error as Error).message });
        return undefined;
      }
    }
    if (Array.isArray(value)) return value.map((v, i) => visit(v, `${path}[${i}]`));
    if (isTree(value)) {
      const out: ConfigTree = {};
      for (const [k, v] of Object.entries(value)) {
        const decrypted = visit(v, path === '' ? k : `${path}.${k}`);
        if (decrypted !== undefined) out[k] = decrypted;
      }
      return out;
    }
    return value;
  };
  return { tree: visit(tree, '') as ConfigTree, failures };
}
