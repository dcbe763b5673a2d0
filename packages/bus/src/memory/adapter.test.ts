import { busConformance } from '../conformance/index.js';
import { createMemoryAdapter } from './adapter.js';
import { MemoryBroker } from './broker.js';

const broker = new MemoryBroker();

busConformance({ name: 'memory', createAdapter: () => createMemoryAdapter({ broker }) });
