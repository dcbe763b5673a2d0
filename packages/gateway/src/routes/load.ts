import { readFile } from 'node:fs/promises';
import { compileValidator, parseYamlDocument, type YamlDocument } from '@flotilla/core';
import { type CompiledRoute, compileRoutes } from './compile.js';
import { RouteDefinitionError, RoutesError } from './errors.js';
import { type RoutesFile, RoutesFileSchema } from './schema.js';

const validator = compileValidator(RoutesFileSchema);

/** Reads, validates and compiles a routes file; errors name `file:line:column`. */
export async function loadRoutesFile(path: string): Promise<CompiledRoute[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new RoutesError(`${path}: cannot read the routes file: ${(error as Error).message}`, {
      cause: error,
      data: { source: path },
    });
  }
  return parseRoutes(text, path);
}

/**
 * Parses routes YAML text; `source` names it in errors. String values may name environment
 * variables as `${env:NAME}` or `${env:NAME:-default}` (what `flotilla up` uses to hand the
 * gateway its token issuer's URL); `$${…}` is a literal `${…}`.
 */
export function parseRoutes(
  text: string,
  source = 'routes.yaml',
  env: NodeJS.ProcessEnv = process.env,
): CompiledRoute[] {
  let doc: YamlDocument;
  try {
    doc = parseYamlDocument(text, source);
  } catch (error) {
    const data = (error as { data?: { line?: number; column?: number } }).data ?? {};
    throw new RoutesError((error as Error).message, {
      data: { source, line: data.line ?? 1, column: data.column ?? 1, pointer: '' },
    });
  }
  const where = (pointer: string) => doc.locate(pointer);
  const value = expandEnv(doc.value ?? { routes: [] }, '', env, (pointer, name) => {
    const pos = where(pointer);
    const at = pos ? `${source}:${pos.line}:${pos.column}` : source;
    throw new RoutesError(`${at}: ${pointer}: environment variable ${name} is not set and has no default`, {
      data: { source, pointer, ...(pos ? { line: pos.line, column: pos.column } : {}) },
    });
  });
  return routesFromValue(value, source, where);
}

const ENV_PLACEHOLDER = /\$(\$?)\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Copy of `value` with `${env:…}` placeholders in strings replaced. */
function expandEnv(
  value: unknown,
  pointer: string,
  env: NodeJS.ProcessEnv,
  missing: (pointer: string, name: string) => never,
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    return value.replace(
      ENV_PLACEHOLDER,
      (whole, escaped: string, name: string, fallback: string | undefined) => {
        if (escaped) return whole.slice(1);
        const found = env[name];
        if (found !== undefined && found !== '') return found;
        if (fallback !== undefined) return fallback;
        return missing(pointer, name);
      },
    );
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, `${pointer}/${i}`, env, missing));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, `${pointer}/${k}`, env, missing);
    return out;
  }
  return value;
}

/**
 * Validates and compiles an already parsed routes document (e.g. from the config server, where
 * no line numbers exist); `where` maps a JSON pointer to a position when one is known.
 */
export function routesFromValue(
  value: unknown,
  source: string,
  where: (pointer: string) => { line: number; column: number } | undefined = () => undefined,
): CompiledRoute[] {
  const fail = (pointer: string, message: string): never => {
    const pos = where(pointer);
    const at = pos ? `${source}:${pos.line}:${pos.column}` : source;
    const field = pointer === '' ? '(root)' : pointer;
    throw new RoutesError(`${at}: ${field}: ${message}`, {
      data: { source, pointer, ...(pos ? { line: pos.line, column: pos.column } : {}) },
    });
  };
  const errors = validator.errors(value);
  const first = errors[0];
  if (first) fail(first.field === '/' ? '' : first.field, describe(first.message, value, first.field));
  try {
    return compileRoutes((value as RoutesFile).routes);
  } catch (error) {
    if (error instanceof RouteDefinitionError) return fail(error.pointer, error.message);
    throw error;
  }
}

/** TypeBox says "Unexpected property"; name the property and the value where that helps. */
function describe(message: string, root: unknown, pointer: string): string {
  const value = valueAt(root, pointer);
  const shown = value === undefined ? '' : `, got ${JSON.stringify(value)?.slice(0, 80)}`;
  return `${message}${shown}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const part of segments(pointer)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function segments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}
