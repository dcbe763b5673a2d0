import { ConfigurationError } from '@flotilla/core';
import type { Static, TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';

/** Compiled once per schema: a routes file may build hundreds of route modules. */
const compiledSchemas = new WeakMap<TSchema, TypeCheck<TSchema>>();

/**
 * Checks a module's configuration against its TypeBox schema and throws a
 * `ConfigurationError` naming the field and the value, as the routes loader would.
 */
export function checkConfig<T extends TSchema>(schema: T, value: unknown, field: string): Static<T> {
  let compiled = compiledSchemas.get(schema);
  if (compiled === undefined) {
    compiled = TypeCompiler.Compile(schema);
    compiledSchemas.set(schema, compiled);
  }
  if (compiled.Check(value)) return value;
  const first = compiled.Errors(value).First();
  const path = first ? `${field}${first.path.replaceAll('/', '.')}` : field;
  throw new ConfigurationError(
    `${path} ${first?.message.toLowerCase() ?? 'is invalid'}, got ${describe(first ? first.value : value)}`,
    { data: { field: path } },
  );
}

/** Throws a `ConfigurationError` for `field`, which should be `expected`, with its value. */
export function badConfig(field: string, expected: string, value: unknown): never {
  throw new ConfigurationError(`${field} should be ${expected}, got ${describe(value)}`, {
    data: { field },
  });
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
