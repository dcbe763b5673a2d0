import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { isFlotillaError } from './errors.js';
import { compileValidator } from './validation.js';
import { InstanceRegistrationSchema } from './wire.js';

describe('compileValidator', () => {
  const body = compileValidator(
    Type.Object({ name: Type.String(), port: Type.Integer({ minimum: 1 }) }),
    '/body',
  );

  it('returns the typed value when it matches', () => {
    expect(body.assert({ name: 'catalog', port: 80 })).toEqual({ name: 'catalog', port: 80 });
  });

  it('throws a ValidationError naming each bad field', () => {
    try {
      body.assert({ name: 7, port: 0 });
      expect.unreachable();
    } catch (error) {
      expect(isFlotillaError(error) && error.code).toBe('VALIDATION_FAILED');
      const fields = ((error as { data: { errors: { field: string }[] } }).data.errors ?? []).map(
        (e) => e.field,
      );
      expect(fields).toContain('/body/name');
      expect(fields).toContain('/body/port');
      expect((error as Error).message).toMatch(/^Invalid body: \/body\//);
    }
  });

  it('validates the shared instance registration wire type', () => {
    const v = compileValidator(InstanceRegistrationSchema);
    expect(v.check({ service: 'catalog', instanceId: 'a', host: '127.0.0.1', port: 8080 })).toBe(true);
    expect(
      v.errors({ service: 'Catalog!', instanceId: 'a', host: 'h', port: 70000 }).map((e) => e.field),
    ).toEqual(expect.arrayContaining(['/service', '/port']));
  });
});
