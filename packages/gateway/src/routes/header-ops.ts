import type { HeaderOpsDefinition } from './schema.js';

/** Header operations with names lower-cased once at load. */
export interface CompiledHeaderOps {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

/** Lower-cases names so applying the operations needs no normalisation per request. */
export function compileHeaderOps(def: HeaderOpsDefinition): CompiledHeaderOps {
  const lower = (map: Record<string, string> | undefined) =>
    Object.entries(map ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const);
  return { set: lower(def.set), add: lower(def.add), remove: (def.remove ?? []).map((n) => n.toLowerCase()) };
}

/** Applies remove, then set, then add (append) to a lower-cased header record, in place. */
export function applyHeaderOps(
  headers: Record<string, string | string[] | undefined>,
  ops: CompiledHeaderOps,
): void {
  for (const name of ops.remove) delete headers[name];
  for (const [name, value] of ops.set) headers[name] = value;
  for (const [name, value] of ops.add) {
    const current = headers[name];
    if (current === undefined) headers[name] = value;
    else if (Array.isArray(current)) headers[name] = [...current, value];
    else headers[name] = [current, value];
  }
}
