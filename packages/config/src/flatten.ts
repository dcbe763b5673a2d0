/**
 * Tree helpers shared by the server and the client. Config is nested (as YAML writes it); keys
 * are dotted paths (`db.pool.size`, as Spring and the PostgreSQL store write them). A key
 * written with dots in YAML (`db.pool.size: 10`) means the same as the nested form, so every
 * document is expanded once when it is read and no path segment ever contains a dot.
 */

/** A JSON object (not an array, not null). */
export type ConfigTree = { [key: string]: unknown };

/** True for a plain JSON object. */
export function isTree(value: unknown): value is ConfigTree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Copy of `value` where every key `a.b.c` becomes nested `a: { b: { c } }`; later keys win. */
export function expandDottedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(expandDottedKeys);
  if (!isTree(value)) return value;
  const out: ConfigTree = {};
  for (const [key, child] of Object.entries(value)) {
    setPath(out, key.split('.'), expandDottedKeys(child));
  }
  return out;
}

/** Sets `path` in `tree`, merging objects on the way and replacing anything that is not one. */
export function setPath(tree: ConfigTree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (let i = 0; i < path.length - 1; i++) {
    const segment = path[i] as string;
    const next = node[segment];
    if (isTree(next)) {
      node = next;
    } else {
      const created: ConfigTree = {};
      node[segment] = created;
      node = created;
    }
  }
  const last = path[path.length - 1] as string;
  const existing = node[last];
  if (isTree(existing) && isTree(value)) {
    for (const [k, v] of Object.entries(value)) setPath(existing, [k], v);
  } else {
    node[last] = value;
  }
}

/** The value at a dotted path, or undefined. */
export function getPath(tree: unknown, path: string): unknown {
  let node = tree;
  for (const segment of path.split('.')) {
    if (!isTree(node)) return undefined;
    node = node[segment];
  }
  return node;
}

/**
 * Leaves of a tree by dotted path. Arrays are leaves (a more specific layer replaces a list as a
 * whole, as Spring Boot binds lists); empty objects are leaves too.
 */
export function leaves(
  tree: ConfigTree,
  prefix = '',
  out = new Map<string, unknown>(),
): Map<string, unknown> {
  for (const [key, value] of Object.entries(tree)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (isTree(value) && Object.keys(value).length > 0) leaves(value, path, out);
    else out.set(path, value);
  }
  return out;
}

/** Dotted paths whose leaf differs between two trees, sorted. */
export function changedPaths(before: ConfigTree, after: ConfigTree): string[] {
  const a = leaves(before);
  const b = leaves(after);
  const out = new Set<string>();
  for (const [path, value] of a) {
    if (!b.has(path) || JSON.stringify(b.get(path)) !== JSON.stringify(value)) out.add(path);
  }
  for (const path of b.keys()) if (!a.has(path)) out.add(path);
  return [...out].sort();
}

/**
 * Spring's flattened form: `a.b.c` for maps, `a.list[0]` / `a.list[0].name` for lists, and
 * `""` for null and for empty lists and maps (what Spring's YamlProcessor produces).
 */
export function springFlatten(tree: ConfigTree): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      if (value.length === 0) out[path] = '';
      value.forEach((item, i) => {
        visit(item, `${path}[${i}]`);
      });
    } else if (isTree(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0 && path !== '') out[path] = '';
      for (const [key, child] of entries) visit(child, path === '' ? key : `${path}.${key}`);
    } else {
      out[path] = value ?? '';
    }
  };
  visit(tree, '');
  return out;
}

/** Freezes a tree and everything in it, so snapshots can be shared without copies. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
