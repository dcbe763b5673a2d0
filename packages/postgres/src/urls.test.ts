import { describe, expect, it } from 'vitest';
import { databaseNameOf, databaseUrl, parsePostgresUrl, redactUrl } from './urls.js';

describe('databaseUrl', () => {
  it('points the server URL at another database, keeping credentials and options', () => {
    const url = databaseUrl('postgres://app:s3cret@db.local:6543/postgres?sslmode=require', 'orders');
    expect(url).toBe('postgres://app:s3cret@db.local:6543/orders?sslmode=require');
    expect(databaseNameOf(url)).toBe('orders');
  });

  it('rejects a URL of another protocol, naming the field', () => {
    expect(() => databaseUrl('mysql://root@localhost/x', 'orders')).toThrow(/serverUrl.*mysql:/);
  });
});

describe('redactUrl', () => {
  it('hides the password and password-like query parameters', () => {
    const redacted = redactUrl('postgres://app:s3cret@db.local/orders?password=other&sslmode=require');
    expect(redacted).not.toContain('s3cret');
    expect(redacted).not.toContain('other');
    expect(redacted).toContain('sslmode=require');
  });

  it('never echoes an unparseable value, which may itself be a secret', () => {
    expect(redactUrl('not a url with s3cret')).toBe('<unparseable URL>');
    expect(() => parsePostgresUrl('s3cret', 'DATABASE_URL')).toThrow(/DATABASE_URL/);
    expect(() => parsePostgresUrl('s3cret', 'DATABASE_URL')).not.toThrow(/s3cret/);
  });
});
