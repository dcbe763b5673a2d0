import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { FieldError } from '@flotilla/core';
import { type ConfigTree, isTree } from '../flatten.js';

/**
 * `${env:NAME}`, `${env:NAME:-default}` and `${file:path}` placeholders, resolved by the client
 * in the service's own process: the values come from the service's environment and the files
 * mounted into its container (how Kubernetes hands secrets to a pod), and the config server
 * never expands its own environment into anyone's config. `$${…}` is a literal `${…}`; other
 * `${…}` forms (Spring's) are left alone.
 */

export interface PlaceholderOptions {
  /** Variables for `${env:…}`; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Directories `${file:…}` may read from (after following symlinks). */
  fileRoots: readonly string[];
  /** Base of relative `${file:…}` paths; default the process's cwd. */
  cwd?: string;
}

const PLACEHOLDER = /\$(\$?)\{(env|file):([^}]*)\}/g;
const ENV_NAME = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;
const MAX_FILE_BYTES = 1024 * 1024;

/** Default roots for `${file:…}`: `FLOTILLA_CONFIG_FILE_ROOTS` (`:`-separated) or the secret mounts. */
export function defaultFileRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const configured = env.FLOTILLA_CONFIG_FILE_ROOTS;
  if (configured) return configured.split(':').filter((p) => p !== '');
  return ['/run/secrets', '/var/run/secrets'];
}

/** Copy of `tree` with placeholders replaced; problems are listed by JSON pointer, never with values. */
export async function resolvePlaceholders(
  tree: ConfigTree,
  options: PlaceholderOptions,
): Promise<{ tree: ConfigTree; errors: FieldError[] }> {
  const errors: FieldError[] = [];
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const roots = await Promise.all(
    options.fileRoots.map((r) => realpath(resolve(cwd, r)).catch(() => undefined)),
  );

  const readConfined = async (path: string): Promise<string> => {
    const real = await realpath(resolve(cwd, path)).catch(() => undefined);
    if (real === undefined) throw new Error(`file ${path} does not exist`);
    const inside = roots.some((root) => root !== undefined && isWithin(root, real));
    if (!inside)
      throw new Error(`file ${path} is outside the allowed roots (${options.fileRoots.join(', ')})`);
    if ((await stat(real)).size > MAX_FILE_BYTES) throw new Error(`file ${path} is larger than 1 MiB`);
    // Secret files often end in one newline that is not part of the value.
    return (await readFile(real, 'utf8')).replace(/\r?\n$/, '');
  };

  const expand = async (text: string, field: string): Promise<string> => {
    if (!text.includes('${')) return text;
    const parts: string[] = [];
    let last = 0;
    for (const match of text.matchAll(PLACEHOLDER)) {
      const [whole, escaped, kind, arg] = match as unknown as [string, string, string, string];
      parts.push(text.slice(last, match.index));
      last = (match.index ?? 0) + whole.length;
      if (escaped === '$') {
        parts.push(whole.slice(1));
        continue;
      }
      try {
        if (kind === 'env') {
          const m = ENV_NAME.exec(arg);
          if (!m) throw new Error(`"${arg}" is not an environment variable name`);
          const value = env[m[1] as string];
          if (value !== undefined) parts.push(value);
          else if (m[2] !== undefined) parts.push(m[2]);
          else throw new Error(`environment variable ${m[1]} is not set`);
        } else {
          parts.push(await readConfined(arg.trim()));
        }
      } catch (error) {
        errors.push({ field, message: `\${${kind}:…}: ${(error as Error).message}` });
        parts.push('');
      }
    }
    parts.push(text.slice(last));
    return parts.join('');
  };

  const visit = async (value: unknown, pointer: string): Promise<unknown> => {
    if (typeof value === 'string') return expand(value, pointer || '/');
    if (Array.isArray(value)) return Promise.all(value.map((v, i) => visit(v, `${pointer}/${i}`)));
    if (isTree(value)) {
      const out: ConfigTree = {};
      for (const [k, v] of Object.entries(value)) out[k] = await visit(v, `${pointer}/${k}`);
      return out;
    }
    return value;
  };
  return { tree: (await visit(tree, '')) as ConfigTree, errors };
}

function isWithin(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}
