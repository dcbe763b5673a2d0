import { isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { ConfigSourceError } from '../../errors.js';
import { type ConfigTree, deepFreeze, expandDottedKeys, isTree } from '../../flatten.js';
import type { DocumentOrigin } from './source.js';

/** A YAML config file turned into a tree, with the line of every key. */
export interface ParsedYaml {
  data: ConfigTree;
  origins: Map<string, DocumentOrigin>;
}

/**
 * Parses one YAML config document. Invalid YAML, duplicate keys, several documents in one
 * file, or a top level that is not a mapping throw a `ConfigSourceError` whose `data` has the
 * 1-based `line` and `column`.
 */
export function parseYamlConfig(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos?.[0];
    // prettyErrors appends " at line L, column C:" and a code excerpt; the position is in data.
    const message = (error.message.split('\n')[0] ?? error.message).replace(
      / at line \d+, column \d+:?$/,
      '',
    );
    throw new ConfigSourceError(message, { data: { line: at?.line, column: at?.col } });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (cause) {
    throw new ConfigSourceError(`cannot read YAML: ${(cause as Error).message}`, { cause });
  }
  if (value === null || value === undefined) return { data: deepFreeze({}), origins: new Map() };
  if (!isTree(value)) {
    const line = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]) : undefined;
    throw new ConfigSourceError('the top level should be a mapping of keys to values', {
      data: { line: line?.line, column: line?.col },
    });
  }
  const origins = new Map<string, DocumentOrigin>();
  collectLines(doc.contents as Node, '', lineCounter, origins);
  return { data: deepFreeze(expandDottedKeys(value) as ConfigTree), origins };
}

/** Records the line of each leaf key; dotted keys are split the way `expandDottedKeys` does. */
function collectLines(
  node: Node,
  prefix: string,
  lines: LineCounter,
  out: Map<string, DocumentOrigin>,
): void {
  if (!isMap(node)) return;
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const value = pair.value as Node | null;
    if (value && isMap(value) && value.items.length > 0) {
      collectLines(value, path, lines, out);
    } else {
      const range = isScalar(pair.key) ? pair.key.range : undefined;
      if (range) out.set(path, { line: lines.linePos(range[0]).line });
    }
  }
}
