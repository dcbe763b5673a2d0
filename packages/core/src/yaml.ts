import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigurationError } from './errors.js';

/** A position in a YAML file (1-based). */
export interface YamlPosition {
  line: number;
  column: number;
}

/** A parsed YAML file: its value, and where a JSON pointer into it sits in the text. */
export interface YamlDocument {
  readonly value: unknown;
  /** Line and column of the deepest existing node on `pointer`'s path. */
  locate(pointer: string): YamlPosition | undefined;
}

/**
 * Parses YAML text keeping node positions, so a schema error can name `file:line:column`.
 * A syntax error throws a `ConfigurationError` that does. Duplicate keys are errors.
 */
export function parseYamlDocument(text: string, source: string): YamlDocument {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const pos = lines.linePos(syntax.pos[0]);
    throw new ConfigurationError(`${source}:${pos.line}:${pos.col}: ${syntax.message.split('\n')[0]}`, {
      data: { source, line: pos.line, column: pos.col },
    });
  }
  return { value: doc.toJS({ maxAliasCount: 100 }), locate: (pointer) => locate(doc, lines, pointer) };
}

function segments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function locate(doc: Document, lines: LineCounter, pointer: string): YamlPosition | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined = doc.contents ?? undefined;
  for (const part of segments(pointer)) {
    let next: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => String((p.key as { value?: unknown })?.value ?? p.key) === part);
      // A key that is there with a bad value: point at the value.
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
