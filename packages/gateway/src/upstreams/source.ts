import type { DiscoveryClient, Instance, InstanceSource, ServiceChange } from '@flotilla/discovery';

/**
 * The discovery client's copy, addressable as `service` or `service@version` (canary splits).
 * Filtered arrays are cached against the identity of the service's UP array, which the client
 * replaces on every change, so a pick filters only after a change.
 */
export class VersionedSource implements InstanceSource {
  private readonly filtered = new Map<string, { base: readonly Instance[]; list: readonly Instance[] }>();

  constructor(private readonly discovery: DiscoveryClient) {}

  /** UP instances of `key` (`service` or `service@version`). */
  instances(key: string): readonly Instance[] {
    const at = key.indexOf('@');
    if (at < 0) return this.discovery.instances(key);
    const base = this.discovery.instances(key.slice(0, at));
    const cached = this.filtered.get(key);
    if (cached && cached.base === base) return cached.list;
    const version = key.slice(at + 1);
    const list = Object.freeze(base.filter((i) => i.version === version));
    this.filtered.set(key, { base, list });
    return list;
  }

  /** Forwards a service's changes to its versioned keys as well. */
  on(event: 'change', listener: (change: ServiceChange) => void): () => void {
    return this.discovery.on(event, (change) => {
      listener(change);
      for (const key of this.filtered.keys()) {
        if (key.startsWith(`${change.service}@`)) listener({ ...change, service: key });
      }
    });
  }
}
