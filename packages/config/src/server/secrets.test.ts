import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@flotilla/testkit';
import { describe, expect, it } from 'vitest';
import { TEST_KEYS } from '../test-support.js';
import { cipherPaths, decryptTree, KeyRing, parseKey } from './secrets.js';

const ring = (active: 'k1' | 'k2', ...ids: Array<'k1' | 'k2'>) =>
  new KeyRing(
    ids.map((id) => parseKey(id, TEST_KEYS[id], 'test')),
    active,
  );

describe('KeyRing', () => {
  it('round-trips a value as {cipher}{key:<id>}… with a fresh IV each time', () => {
    const keys = ring('k1', 'k1');
    const a = keys.encrypt('s3cret-pässword');
    const b = keys.encrypt('s3cret-pässword');
    expect(a).toMatch(/^\{cipher\}\{key:k1\}[A-Za-z0-9+/=]+$/);
    expect(a).not.toBe(b);
    expect(keys.decrypt(a)).toBe('s3cret-pässword');
  });

  it('rotates: a new active key encrypts, old ciphertexts still decrypt, re-encryption moves them to the new key', () => {
    const old = ring('k1', 'k1').encrypt('value-under-k1');
    const rotated = ring('k2', 'k1', 'k2');
    expect(rotated.activeId).toBe('k2');
    expect(rotated.decrypt(old)).toBe('value-under-k1');
    expect(rotated.encrypt('new')).toMatch(/^\{cipher\}\{key:k2\}/);

    const moved = rotated.reencrypt(old);
    expect(KeyRing.keyIdOf(moved)).toBe('k2');
    expect(rotated.reencrypt(moved)).toBe(moved);
    // Once k1 is retired, the re-encrypted value still decrypts; the old one does not.
    const retired = ring('k2', 'k2');
    expect(retired.decrypt(moved)).toBe('value-under-k1');
    expect(() => retired.decrypt(old)).toThrow('unknown key id "k1" (known: k2)');
  });

  it('detects an altered ciphertext, a relabelled key id and garbage, without revealing the value', () => {
    const keys = ring('k1', 'k1', 'k2');
    const value = keys.encrypt('top-secret');
    const payload = Buffer.from(value.slice('{cipher}{key:k1}'.length), 'base64');
    payload[payload.length - 1] = (payload[payload.length - 1] as number) ^ 1;
    const tampered = `{cipher}{key:k1}${payload.toString('base64')}`;
    expect(() => keys.decrypt(tampered)).toThrow(/authentication failed with key "k1"/);
    expect(() => keys.decrypt(value.replace('{key:k1}', '{key:k2}'))).toThrow(/authentication failed/);
    expect(() => keys.decrypt('{cipher}{key:k1}AAAA')).toThrow('malformed ciphertext');
    expect(() => keys.decrypt('{cipher}abc')).toThrow('ciphertext has no {key:<id>} prefix');
    try {
      keys.decrypt(tampered);
    } catch (error) {
      expect(JSON.stringify(error)).not.toContain('top-secret');
      expect(error).toMatchObject({ code: 'CONFIG_DECRYPT_FAILED' });
    }
  });

  it('reads keys from FLOTILLA_CONFIG_KEYS and from a mounted directory, the active one by name or by order', async () => {
    const env = new KeyRing([]);
    expect(env.activeId).toBeUndefined();
    const fromList = KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: `k1:${TEST_KEYS.k1},k2:${TEST_KEYS.k2}` });
    expect(fromList.ids()).toEqual(['k1', 'k2']);
    expect(fromList.activeId).toBe('k2');

    const temp = await makeTempDir('config-keys');
    try {
      await writeFile(join(temp.dir, '2024-01'), `${TEST_KEYS.k1}\n`);
      await writeFile(join(temp.dir, '2025-06'), TEST_KEYS.k2);
      await writeFile(join(temp.dir, '..data'), 'ignored: kubernetes bookkeeping');
      const fromDir = KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS_DIR: temp.dir });
      expect(fromDir.ids()).toEqual(['2024-01', '2025-06']);
      expect(fromDir.activeId).toBe('2025-06');
      const pinned = KeyRing.fromEnv({
        FLOTILLA_CONFIG_KEYS_DIR: temp.dir,
        FLOTILLA_CONFIG_ACTIVE_KEY: '2024-01',
      });
      expect(pinned.activeId).toBe('2024-01');
    } finally {
      await temp.remove();
    }
  });

  it('refuses a key of the wrong size naming the key id but never echoing the key', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    expect(() => KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: `old:${short}` })).toThrow(
      'FLOTILLA_CONFIG_KEYS: key "old" should be 32 bytes in base64 (AES-256), got 16 bytes',
    );
    expect(() =>
      KeyRing.fromEnv({ FLOTILLA_CONFIG_KEYS: `k1:${TEST_KEYS.k1}`, FLOTILLA_CONFIG_ACTIVE_KEY: 'k9' }),
    ).toThrow('FLOTILLA_CONFIG_ACTIVE_KEY "k9" is not one of the keys (k1)');
  });
});

describe('decryptTree', () => {
  it('decrypts every {cipher} value, in maps and lists, and lists the ones that fail by path', () => {
    const keys = ring('k1', 'k1');
    const tree = {
      db: { password: keys.encrypt('pw'), user: 'orders' },
      apiKeys: [keys.encrypt('one'), '{cipher}{key:k9}AAAA'],
    };
    expect(cipherPaths(tree)).toEqual(['apiKeys[0]', 'apiKeys[1]', 'db.password']);
    const { tree: out, failures } = decryptTree(tree, keys);
    expect(out.db).toEqual({ password: 'pw', user: 'orders' });
    expect((out.apiKeys as unknown[])[0]).toBe('one');
    expect(failures).toEqual([{ path: 'apiKeys[1]', message: 'unknown key id "k9" (known: k1)' }]);
  });
});
