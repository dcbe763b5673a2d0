import { readFile } from 'node:fs/promises';
import { compileValidator } from '@flotilla/core';
import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
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

/** Parses routes YAML text; `source` names it in errors. */
export function parseRoutes(text: string, source = 'routes.yaml'): CompiledRoute[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const pos = lineCounter.linePos(syntax.pos[0]);
    throw new RoutesError(`${source}:${pos.line}:${pos.col}: ${syntax.message.split('\n')[0]}`, {
      data: { source, line: pos.line, column: pos.col, pointer: '' },
    });
  }
  const value = doc.toJS({ maxAliasCount: 100 }) ?? { routes: [] };
  return routesFromValue(value, source, (pointer) => locate(doc, lineCounter, pointer));
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

/** Line and column of the deepest existing YAML node on `pointer`'s path. */
function locate(
  doc: Document,
  lines: LineCounter,
  pointer: string,
): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined = doc.contents ?? undefined;
  for (const part of segments(pointer)) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === part);
      // A key that is there but has a bad value: point at the value.
      next = pair ? (pair.value ?? pair.key) : undefined;
    } else if (isSeq(node)) {
      next = node.items[Number(part)];
    }
    if (next === undefined || next === null) break;
    node = next;
    if ((next as Node).range) found = next as Node;
  }
  const offset = found?.range?.[0];
  if (offset === undefined) return undefined;
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}
