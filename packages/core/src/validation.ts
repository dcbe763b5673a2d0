import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValidationError } from './errors.js';
import type { FieldError } from './problem.js';

/** A compiled TypeBox validator. */
export interface Validator<T extends TSchema> {
  /** True when `value` matches the schema. */
  check(value: unknown): value is Static<T>;
  /** Returns `value` typed, or throws `ValidationError` listing every bad field. */
  assert(value: unknown): Static<T>;
  /** Field errors for `value` (empty when valid). */
  errors(value: unknown): FieldError[];
}

/**
 * Compiles `schema` once. `where` prefixes field pointers (e.g. `/body`) so an error names the
 * field as the caller sent it.
 */
export function compileValidator<T extends TSchema>(schema: T, where = ''): Validator<T> {
  const compiled = TypeCompiler.Compile(schema);
  const errors = (value: unknown): FieldError[] => {
    const out: FieldError[] = [];
    for (const e of compiled.Errors(value)) {
      out.push({ field: `${where}${e.path}` || '/', message: e.message });
      if (out.length >= 20) break;
    }
    return out;
  };
  return {
    check: (value): value is Static<T> => compiled.Check(value),
    errors,
    assert(value) {
      if (compiled.Check(value)) return value;
      const list = errors(value);
      const first = list[0];
      const message = first ? `${first.field}: ${first.message}` : 'invalid value';
      throw new ValidationError(`Invalid ${where ? where.slice(1) : 'value'}: ${message}`, {
        data: { errors: list },
      });
    },
  };
}
