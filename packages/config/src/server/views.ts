import { ConfigDecryptError } from '../errors.js';
import type { ConfigTree } from '../flatten.js';
import type { ResolvedConfig, ValueOrigin } from '../wire.js';
import type { Resolution } from './resolve.js';
import { decryptTree, type KeyRing } from './secrets.js';

/**
 * The native view of a resolution: the `ResolvedConfig` document, serialized once per
 * resolution and audience (secrets decrypted or left as `{cipher}`), since a resolution is
 * immutable and requests for the same service repeat.
 */

interface Rendered {
  encrypted?: string;
  decrypted?: string | ConfigDecryptError;
}

const rendered = new WeakMap<Resolution, Rendered>();

/** The JSON body of `GET /v1/config/…` for a resolution; throws `ConfigDecryptError` when a secret fails. */
export function nativeBody(resolution: Resolution, decrypt: boolean, keys: KeyRing): string {
  let cache = rendered.get(resolution);
  if (!cache) {
    cache = {};
    rendered.set(resolution, cache);
  }
  const wantsPlain = decrypt && resolution.secrets.length > 0;
  if (!wantsPlain) {
    cache.encrypted ??= JSON.stringify(nativeDocument(resolution, resolution.config, decrypt));
    return cache.encrypted;
  }
  if (cache.decrypted === undefined) {
    const { tree, failures } = decryptTree(resolution.config, keys);
    cache.decrypted =
      failures.length === 0
        ? JSON.stringify(nativeDocument(resolution, tree, true))
        : decryptError(resolution, failures);
  }
  if (cache.decrypted instanceof ConfigDecryptError) throw cache.decrypted;
  return cache.decrypted;
}

/** The `ResolvedConfig` document with a given (possibly decrypted) config tree. */
export function nativeDocument(
  resolution: Resolution,
  config: ConfigTree,
  decrypted: boolean,
): ResolvedConfig {
  const { service, profiles, version } = resolution.request;
  return {
    service,
    env: profiles.join(','),
    profiles: [...profiles],
    version,
    revision: resolution.revision,
    decrypted,
    config,
    origins: resolution.origins,
    secrets: [...resolution.secrets],
    sources: [...resolution.sources],
    warnings: [...resolution.warnings],
  };
}

const memo = new WeakMap<Resolution, Map<string, string>>();

/**
 * A rendering of a resolution, computed once per resolution and `variant` (resolutions are
 * immutable and replaced on every change, so the memo never goes stale).
 */
export function memoized(resolution: Resolution, variant: string, render: () => string): string {
  let byVariant = memo.get(resolution);
  if (!byVariant) {
    byVariant = new Map();
    memo.set(resolution, byVariant);
  }
  let out = byVariant.get(variant);
  if (out === undefined) {
    out = render();
    // Labels are the caller's choice: past a few variants, render without keeping them.
    if (byVariant.size < 64) byVariant.set(variant, out);
  }
  return out;
}

/** The decrypted config tree, or a `ConfigDecryptError` naming each failing key and its source. */
export function decryptedConfig(resolution: Resolution, keys: KeyRing): ConfigTree {
  const { tree, failures } = decryptTree(resolution.config, keys);
  if (failures.length > 0) throw decryptError(resolution, failures);
  return tree;
}

function decryptError(
  resolution: Resolution,
  failures: Array<{ path: string; message: string }>,
): ConfigDecryptError {
  const errors = failures.map((f) => {
    const origin = originOf(resolution.origins, f.path);
    return {
      field: `/${f.path
        .replace(/\[(\d+)\]/g, '.$1')
        .split('.')
        .join('/')}`,
      message: `${origin ? `${origin.source}: ` : ''}cannot decrypt: ${f.message}`,
    };
  });
  const { service, profiles } = resolution.request;
  const first = errors[0] as { field: string; message: string };
  return new ConfigDecryptError(
    `cannot decrypt ${errors.length} value(s) of ${service}/${profiles.join(',')}; first ${first.field}: ${first.message}`,
    { data: { errors } },
  );
}

/** The origin of a dotted path, looking at its parents for items of lists (`a.list[0]` → `a.list`). */
export function originOf(
  origins: Readonly<Record<string, ValueOrigin>>,
  path: string,
): ValueOrigin | undefined {
  let p = path;
  for (;;) {
    const found = origins[p];
    if (found) return found;
    const cut = Math.max(p.lastIndexOf('['), p.lastIndexOf('.'));
    if (cut <= 0) return undefined;
    p = p.slice(0, cut);
  }
}
