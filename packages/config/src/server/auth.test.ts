import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '@flotilla/testkit';
import { describe, expect, it } from 'vitest';
import { TOKENS } from '../test-support.js';
import { mayDecrypt, requireOperator, TokenAuth } from './auth.js';

describe('TokenAuth', () => {
  const auth = TokenAuth.fromEnv({
    FLOTILLA_CONFIG_TOKENS: `orders=${TOKENS.orders},billing=${TOKENS.billing},billing=${TOKENS.orders}`,
    FLOTILLA_CONFIG_OPERATOR_TOKEN: TOKENS.operator,
  });

  it('maps a bearer token to the services it may read, and the operator token to everything', () => {
    const orders = auth.authenticate(`Bearer ${TOKENS.orders}`);
    expect(mayDecrypt(orders, 'orders')).toBe(true);
    expect(mayDecrypt(orders, 'billing')).toBe(true);
    const billing = auth.authenticate(`Bearer ${TOKENS.billing}`);
    expect(() => mayDecrypt(billing, 'orders')).toThrow(expect.objectContaining({ status: 403 }));
    const operator = auth.authenticate(`Bearer ${TOKENS.operator}`);
    expect(mayDecrypt(operator, 'anything')).toBe(true);
    expect(() => requireOperator(orders)).toThrow(expect.objectContaining({ status: 403 }));
  });

  it('accepts Basic credentials with the token as password (Spring Cloud Config clients)', () => {
    const basic = Buffer.from(`orders:${TOKENS.orders}`).toString('base64');
    expect(auth.authenticate(`Basic ${basic}`)).toMatchObject({ kind: 'service' });
  });

  it('treats no credentials as anonymous and unknown ones as 401, never as anonymous', () => {
    const anonymous = auth.authenticate(undefined);
    expect(mayDecrypt(anonymous, 'orders')).toBe(false);
    expect(() => requireOperator(anonymous)).toThrow(expect.objectContaining({ status: 401 }));
    expect(() => auth.authenticate('Bearer wrong-token-0123456789')).toThrow(
      expect.objectContaining({ status: 401, code: 'UNAUTHORIZED' }),
    );
    expect(() => auth.authenticate('Token abc')).toThrow(expect.objectContaining({ status: 401 }));
  });

  it('reads a YAML token file with plain or sha256 tokens, and refuses short tokens', async () => {
    const temp = await makeTempDir('config-tokens');
    try {
      const hashed = createHash('sha256').update(TOKENS.billing).digest('hex');
      const file = join(temp.dir, 'tokens.yaml');
      await writeFile(
        file,
        `orders: [${TOKENS.orders}, second-token-0123456789]\nbilling: sha256:${hashed}\n`,
      );
      const fromFile = TokenAuth.fromEnv({ FLOTILLA_CONFIG_TOKENS_FILE: file });
      expect(mayDecrypt(fromFile.authenticate('Bearer second-token-0123456789'), 'orders')).toBe(true);
      expect(mayDecrypt(fromFile.authenticate(`Bearer ${TOKENS.billing}`), 'billing')).toBe(true);
    } finally {
      await temp.remove();
    }
    expect(() => TokenAuth.fromEnv({ FLOTILLA_CONFIG_TOKENS: 'orders=short' })).toThrow(
      'token of orders should be at least 16 characters',
    );
  });
});
