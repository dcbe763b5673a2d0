import { describe, expect, it } from 'vitest';
import { applySecureHeaders, SECURE_HEADERS } from './secure-headers.js';

describe('applySecureHeaders', () => {
  it('adds every secure header the response lacks and keeps the upstream own values', () => {
    const headers: Record<string, unknown> = applySecureHeaders({
      'x-frame-options': 'SAMEORIGIN',
      'content-type': 'text/html',
    });
    expect(headers).toEqual({
      ...SECURE_HEADERS,
      'x-frame-options': 'SAMEORIGIN',
      'content-type': 'text/html',
    });
    expect(headers['x-content-type-options']).toBe('nosniff');
  });

  it('drops headers that fingerprint the upstream software', () => {
    expect(applySecureHeaders({ 'x-powered-by': 'Express' })).not.toHaveProperty('x-powered-by');
  });
});
