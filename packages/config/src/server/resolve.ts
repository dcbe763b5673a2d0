import { createHash } from 'node:crypto';
import { type ConfigTree, deepFreeze, isTree } from '../flatten.js';
import { APPLICATION, layerName } from '../names.js';
import type { ResolvedLayer, SourceWarning, ValueOrigin } from '../wire.js';
import { cipherPaths } from './secrets.js';
import type { ConfigDocument, ConfigSource } from './sources/source.js';

/** What a client asks for. */
export interface ResolveRequest {
  service: string;
  /** Environments (Spring profiles), in increasing precedence. */
  profiles: readonly string[];
  /** The service's version; selects version-specific layers. */
  version: string | null;
}

/** One resolution: merged config (with `{cipher}` values still encrypted) and its provenance. */
export interface Resolution {
  readonly request: ResolveRequest;
  readonly revision: string;
  readonly config: ConfigTree;
  readonly origins: Readonly<Record<string, ValueOrigin>>;
  readonly secrets: readonly string[];
  /** Documents used, general → specific. */
  readonly layers: readonly ConfigDocument[];
  readonly sources: readonly ResolvedLayer[];
  readonly warnings: readonly SourceWarning[];
}

const MAX_CACHED = 10_000;

/**
 * Layers the documents of every source from general to specific, later wins:
 * `application` → `application-{env}` (each env in order) → `{service}` → `{service}-{env}` →
 * version-specific documents of `{service}` then of `{service}-{env}` whose semver range
 * contains the version. At each layer the sources apply in the order given (directory first,
 * then PostgreSQL, so a value put in the store overrides the file at the same layer). Maps
 * merge key by key; lists and scalars replace. Results are cached until a source changes.
 */
export class Resolver {
  private generation = 0;
  private cache = new Map<string, Resolution>();
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: Array<() => void>;

  constructor(readonly sources: readonly ConfigSource[]) {
    this.unsubscribe = sources.map((s) =>
      s.onChange(() => {
        this.generation++;
        this.cache = new Map();
        for (const listener of this.listeners) listener();
      }),
    );
  }

  /** Bumped on every source change. */
  get currentGeneration(): number {
    return this.generation;
  }

  /** Calls `listener` after any source changed. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops listening to the sources. */
  close(): void {
    for (const off of this.unsubscribe) off();
  }

  resolve(request: ResolveRequest): Resolution {
    const key = `${request.service}\n${request.profiles.join(',')}\n${request.version ?? ''}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const resolution = this.compute(request);
    if (this.cache.size >= MAX_CACHED) this.cache = new Map();
    this.cache.set(key, resolution);
    return resolution;
  }

  private compute(request: ResolveRequest): Resolution {
    const { service, profiles, version } = request;
    const plain = [APPLICATION, ...profiles.map((p) => layerName(APPLICATION, p))];
    const own = [service, ...profiles.map((p) => layerName(service, p))];
    const names = [...new Set([...plain, ...own])];
    const snapshots = this.sources.map((s) => s.snapshot());
    const layers: ConfigDocument[] = [];
    for (const name of names) {
      for (const snapshot of snapshots) {
        const doc = snapshot.get(name);
        if (doc) layers.push(doc);
      }
    }
    if (version !== null) {
      for (const name of own)
        for (const snapshot of snapshots) layers.push(...snapshot.matching(name, version));
    }

    const config: ConfigTree = {};
    const origins = new Map<string, ValueOrigin>();
    for (const doc of layers) merge(config, origins, doc.data, doc, '');
    const originRecord = Object.fromEntries([...origins.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
    const sources = layers.map((d) => ({
      name: d.name,
      kind: d.kind,
      layer: d.versions === null ? d.layer : `${d.layer}@${d.versions}`,
    }));
    const warnings = layers
      .filter((d) => d.problem !== undefined)
      .map((d) => ({ source: d.name, ...d.problem }) as SourceWarning);
    const revision = createHash('sha256')
      .update(JSON.stringify([config, sources.map((s) => s.name)]))
      .digest('hex')
      .slice(0, 16);
    return deepFreeze({
      request,
      revision,
      config,
      origins: originRecord,
      secrets: cipherPaths(config),
      layers,
      sources,
      warnings,
    });
  }
}

/** Deep-merges `data` into `target`, recording where each leaf came from. */
function merge(
  target: ConfigTree,
  origins: Map<string, ValueOrigin>,
  data: ConfigTree,
  doc: ConfigDocument,
  prefix: string,
): void {
  for (const [key, value] of Object.entries(data)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const existing = target[key];
    if (isTree(value) && Object.keys(value).length > 0) {
      if (!isTree(existing)) {
        if (existing !== undefined) origins.delete(path);
        target[key] = {};
      } else if (Object.keys(existing).length === 0) {
        origins.delete(path);
      }
      merge(target[key] as ConfigTree, origins, value, doc, path);
    } else if (isTree(value)) {
      // An empty map adds nothing to a map that is there already.
      if (existing === undefined) {
        target[key] = {};
        origins.set(path, originOf(doc, path));
      }
    } else {
      if (isTree(existing)) dropBelow(origins, path);
      target[key] = value;
      origins.set(path, originOf(doc, path));
    }
  }
}

function dropBelow(origins: Map<string, ValueOrigin>, path: string): void {
  const prefix = `${path}.`;
  for (const key of origins.keys()) if (key.startsWith(prefix)) origins.delete(key);
}

function originOf(doc: ConfigDocument, path: string): ValueOrigin {
  const detail = doc.origins.get(path);
  return detail ? { source: doc.name, ...detail } : { source: doc.name };
}
