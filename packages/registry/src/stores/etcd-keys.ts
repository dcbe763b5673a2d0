import { ConfigurationError } from '@flotilla/core';
import type { IKeyValue } from 'etcd3';
import type { Instance } from '../model.js';
import type { EtcdStoreOptions } from './etcd-store.js';

/**
 * The etcd store's key layout and values, under the prefix (default `flotilla/registry/`):
 * `instances/<service>/<id>` → `{type, instance}` on the instance's own lease;
 * `removals/<node>` → the last removal by that process, written with the delete;
 * `nodes/<node>/renewals` → that process's renewal count, on its node lease;
 * `leader` → the node id of the leader, on its node lease;
 * `epoch` → the id of this data's revision history, written once by the first process.
 */

/** `etcd://host:port[,host:port…][/prefix]` (or `etcds://` for TLS) as store options. */
export function parseEtcdUrl(url: string): Pick<EtcdStoreOptions, 'hosts' | 'prefix' | 'auth'> {
  const match = /^(etcds?):\/\/(?:([^:@/]+):([^@/]*)@)?([^/]+)(\/.*)?$/i.exec(url);
  if (!match) {
    throw new ConfigurationError(`--store etcd URL should be etcd://host:port[/prefix], got "${url}"`, {
      data: { field: 'store' },
    });
  }
  const [, scheme, username, password, hostList = '', path] = match;
  const protocol = scheme?.toLowerCase() === 'etcds' ? 'https' : 'http';
  const hosts = hostList.split(',').map((h) => `${protocol}://${h}`);
  const prefix = path && path !== '/' ? `${path.replace(/^\/+|\/+$/g, '')}/` : undefined;
  const out: Pick<EtcdStoreOptions, 'hosts' | 'prefix' | 'auth'> = { hosts };
  if (prefix) out.prefix = prefix;
  if (username !== undefined)
    out.auth = { username: decodeURIComponent(username), password: decodeURIComponent(password ?? '') };
  return out;
}

export interface StoredValue {
  type: 'registered' | 'updated';
  instance: Instance;
}

export function parseValue(kv: IKeyValue): StoredValue {
  return JSON.parse(kv.value.toString()) as StoredValue;
}

export function leaseTtl(instance: Instance): number {
  return Math.max(1, Math.ceil(instance.lease.durationMs / 1000));
}
