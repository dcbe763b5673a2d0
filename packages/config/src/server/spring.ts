import { stringify as toYaml } from 'yaml';
import { type ConfigTree, springFlatten } from '../flatten.js';
import type { Resolution } from './resolve.js';
import { isEncrypted, type KeyRing } from './secrets.js';
import type { ConfigDocument } from './sources/source.js';

/**
 * Spring Cloud Config's wire shapes, built from a Flotilla resolution so a Spring Boot app (or
 * any Spring Cloud Config client) reads the same values a Flotilla client does.
 */

/** Media type Spring Cloud Config clients ask for by default; values then carry their origin. */
export const SPRING_V2_JSON = 'application/vnd.spring-cloud.config-server.v2+json';

/** Spring's `Environment`. */
export interface SpringEnvironment {
  name: string;
  profiles: string[];
  label: string | null;
  version: string | null;
  state: string | null;
  propertySources: Array<{ name: string; source: Record<string, unknown> }>;
}

export interface SpringOptions {
  label: string | null;
  /** Decrypt `{cipher}` values (authenticated caller); otherwise they are left as they are. */
  decrypt: boolean;
  keys: KeyRing;
  /** Wrap each value as `{ value, origin }` (the v2 media type). */
  includeOrigin: boolean;
}

/**
 * `GET /{application}/{profile}[/{label}]`: one property source per layer, most specific first
 * (the order Spring clients apply them in), keys flattened (`a.b`, `a.list[0]`). A value that
 * fails to decrypt becomes `invalid.<key>: "<n/a>"`, as Spring Cloud Config marks it.
 */
export function springEnvironment(resolution: Resolution, options: SpringOptions): SpringEnvironment {
  const propertySources = [...resolution.layers].reverse().map((doc) => ({
    name: doc.name,
    source: springSource(doc, options),
  }));
  return {
    name: resolution.request.service,
    profiles: [...resolution.request.profiles],
    label: options.label,
    version: resolution.revision,
    state: null,
    propertySources,
  };
}

function springSource(doc: ConfigDocument, options: SpringOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(springFlatten(doc.data))) {
    let name = key;
    let value = raw;
    if (options.decrypt && isEncrypted(raw)) {
      try {
        value = options.keys.decrypt(raw);
      } catch {
        name = `invalid.${key}`;
        value = '<n/a>';
      }
    }
    out[name] = options.includeOrigin ? { value, origin: originText(doc, key) } : value;
  }
  return out;
}

function originText(doc: ConfigDocument, key: string): string {
  const detail = doc.origins.get(key.replace(/\[\d+\].*$/, ''));
  if (detail?.line !== undefined) return `line ${detail.line}`;
  if (detail?.revision !== undefined) return `revision ${detail.revision}`;
  return doc.name;
}

/** Formats of `/{application}-{profile}.{ext}`. */
export type SpringFormat = 'yml' | 'properties' | 'json';

/** Parses `orders-dev.yml`: the application is everything before the last `-` (as Spring matches it). */
export function parseSpringDocumentName(
  file: string,
): { application: string; profile: string; format: SpringFormat } | undefined {
  const match = /^(.+)-([^-]+)\.(yml|yaml|properties|json)$/.exec(file);
  if (!match) return undefined;
  const ext = match[3] as string;
  return {
    application: match[1] as string,
    profile: match[2] as string,
    format: ext === 'yaml' ? 'yml' : (ext as SpringFormat),
  };
}

/** Media type of a merged document (Spring serves YAML and properties as plain text). */
export function springContentType(format: SpringFormat): string {
  return format === 'json' ? 'application/json' : 'text/plain; charset=utf-8';
}

/** The merged config as one YAML, properties or JSON document. */
export function springDocument(config: ConfigTree, format: SpringFormat): string {
  if (format === 'json') return JSON.stringify(config);
  if (format === 'yml') return toYaml(config);
  const lines = Object.entries(springFlatten(config))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}: ${String(v)}`);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** Spring clients send `/` in a label as `(_)`. */
export function normalizeLabel(label: string): string {
  return label.replaceAll('(_)', '/');
}
