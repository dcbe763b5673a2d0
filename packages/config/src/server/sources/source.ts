import semver from 'semver';
import type { ConfigTree } from '../../flatten.js';

/**
 * A config source holds documents — one per layer (`application`, `application-prod`,
 * `orders`, `orders-prod`, and version-specific ones such as `orders@^2`) — in an immutable
 * snapshot that it swaps in one assignment when its content changes, so a resolution never
 * sees half of a reload.
 */

/** Why a document is served from its last good version (or is empty). */
export interface SourceProblem {
  message: string;
  line?: number;
  column?: number;
}

/** Where one value of a document comes from, beyond the document's own name. */
export interface DocumentOrigin {
  line?: number;
  revision?: number;
}

/** One layer of one source. */
export interface ConfigDocument {
  /** Name shown to clients: `file:config/orders-prod.yaml`, `postgres:orders/prod`. */
  readonly name: string;
  readonly kind: 'directory' | 'postgres';
  /** `application`, `application-{env}`, `{service}` or `{service}-{env}`. */
  readonly layer: string;
  /** Semver range of a version-specific document, else null. */
  readonly versions: string | null;
  /** Nested values with dotted keys expanded; frozen. */
  readonly data: ConfigTree;
  /** Dotted leaf path → line (files) or revision (PostgreSQL). */
  readonly origins: ReadonlyMap<string, DocumentOrigin>;
  /** Set when the current content is broken and this is the last good version (or nothing). */
  readonly problem?: SourceProblem;
}

/** A (service, environment) pair a source has content for; `env` null means every environment. */
export interface Scope {
  service: string;
  env: string | null;
}

/** An immutable view of a source's documents. */
export class SourceSnapshot {
  static readonly empty = new SourceSnapshot([], []);

  private readonly byLayer = new Map<string, ConfigDocument>();
  private readonly byLayerVersioned = new Map<string, ConfigDocument[]>();

  constructor(
    readonly documents: readonly ConfigDocument[],
    readonly scopes: readonly Scope[],
  ) {
    for (const doc of documents) {
      if (doc.versions === null) {
        this.byLayer.set(doc.layer, doc);
      } else {
        const list = this.byLayerVersioned.get(doc.layer) ?? [];
        list.push(doc);
        this.byLayerVersioned.set(doc.layer, list);
      }
    }
    for (const list of this.byLayerVersioned.values()) list.sort(compareVersioned);
  }

  /** The document of a layer (not version-specific). */
  get(layer: string): ConfigDocument | undefined {
    return this.byLayer.get(layer);
  }

  /** Version-specific documents of a layer whose range contains `version`, in application order. */
  matching(layer: string, version: string): ConfigDocument[] {
    const list = this.byLayerVersioned.get(layer);
    if (!list) return [];
    return list.filter((doc) =>
      semver.satisfies(version, doc.versions as string, { includePrerelease: true }),
    );
  }

  /** Documents served from a last good version, with why. */
  problems(): ConfigDocument[] {
    return this.documents.filter((d) => d.problem !== undefined);
  }
}

/**
 * Version-specific documents apply from the lowest to the highest minimum version of their
 * range, so `orders@>=2.1.0` overrides `orders@^2` for 2.1.x; ties go by name.
 */
function compareVersioned(a: ConfigDocument, b: ConfigDocument): number {
  const va = semver.minVersion(a.versions as string);
  const vb = semver.minVersion(b.versions as string);
  const byVersion = va && vb ? semver.compare(va, vb) : 0;
  return byVersion !== 0 ? byVersion : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** True when `range` is a valid semver range (what version-specific documents are named by). */
export function isVersionRange(range: string): boolean {
  return semver.validRange(range) !== null;
}

/** A pluggable config source (directory of YAML, PostgreSQL store). */
export interface ConfigSource {
  /** `directory` or `postgres`. */
  readonly kind: 'directory' | 'postgres';
  /** Human description for logs and `/health`, e.g. `directory ./config`. */
  readonly description: string;
  /** Reads the initial content and starts watching. */
  start(): Promise<void>;
  /** Stops watching and releases connections. */
  close(): Promise<void>;
  /** The current snapshot (cheap; swapped atomically on change). */
  snapshot(): SourceSnapshot;
  /** Calls `listener` after each new snapshot; returns the unsubscribe call. */
  onChange(listener: () => void): () => void;
}
