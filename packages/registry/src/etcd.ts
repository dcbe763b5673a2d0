/** The etcd store, a separate entry so only etcd users load etcd3. */
export { EtcdStore, type EtcdStoreOptions, parseEtcdUrl } from './stores/etcd-store.js';
