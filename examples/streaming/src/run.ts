// `node dist/run.js <service>`: runs one service of the example as a process (what
// `flotilla up` starts for each instance in flotilla.yaml). Configuration comes from the
// environment `flotilla up` sets: PORT, FLOTILLA_REGISTRY_URL, FLOTILLA_CONFIG_URL,
// FLOTILLA_POSTGRES_URL, FLOTILLA_BUS_URL, FLOTILLA_ENV.
import { type ServiceName, serviceFactories as services } from './services/index.js';

const name = process.argv[2] ?? '';
if (!Object.hasOwn(services, name)) {
  process.stderr.write(
    `usage: node dist/run.js <service>\n  service should be one of ${Object.keys(services).join(', ')}; got "${name}"\n`,
  );
  process.exit(2);
}
await services[name as ServiceName]().run();
