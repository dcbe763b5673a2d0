import { describe, expect, it } from 'vitest';
import { ApiKeyVerifier, hashApiKey } from './api-keys.js';

const config = {
  keys: [
    { hash: hashApiKey('key-of-acme'), clientId: 'acme', scopes: ['play:read'] },
    { hash: hashApiKey('key-of-globex'), clientId: 'globex', scopes: ['play:read', 'play:write'] },
  ],
};

describe('ApiKeyVerifier', () => {
  it('turns a known key in the x-api-key header into the claims of its client', () => {
    const outcome = new ApiKeyVerifier(config).authenticate({ headers: { 'x-api-key': 'key-of-acme' } });
    expect(outcome).toEqual({
      ok: true,
      method: 'api-key',
      claims: { sub: 'acme', client_id: 'acme', iss: 'flotilla:api-key', scope: 'play:read' },
    });
  });

  it('reads the key from a configured header or query parameter', () => {
    const v = new ApiKeyVerifier({ ...config, header: 'X-Key', query: 'api_key' });
    expect(v.authenticate({ headers: { 'x-key': 'key-of-globex' } })).toMatchObject({
      claims: { sub: 'globex' },
    });
    expect(v.authenticate({ url: '/x?api_key=key-of-globex', headers: {} })).toMatchObject({
      claims: { sub: 'globex' },
    });
  });

  it('answers 401 for a missing or unknown key', () => {
    const v = new ApiKeyVerifier(config);
    expect(v.authenticate({ headers: {} })).toMatchObject({
      status: 401,
      wwwAuthenticate: 'ApiKey realm="flotilla"',
      problem: { detail: 'An API key is required in the x-api-key header' },
    });
    expect(v.authenticate({ headers: { 'x-api-key': 'key-of-acme ' } })).toMatchObject({
      status: 401,
      wwwAuthenticate:
        'ApiKey realm="flotilla", error="invalid_token", error_description="The API key is not valid"',
    });
  });

  it('answers 403 when the key lacks a scope the route requires', () => {
    const v = new ApiKeyVerifier({ ...config, scopes: ['play:write'] });
    expect(v.verify('key-of-acme')).toMatchObject({ status: 403, problem: { code: 'INSUFFICIENT_SCOPE' } });
    expect(v.verify('key-of-globex').ok).toBe(true);
  });

  it('refuses a key stored in clear instead of its hash, naming the field', () => {
    expect(() => new ApiKeyVerifier({ keys: [{ hash: 'key-of-acme', clientId: 'acme' }] })).toThrow(
      /^apiKey\.keys\.0\.hash expected string to match '.*', got "key-of-acme"$/,
    );
  });
});
