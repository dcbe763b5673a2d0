// Helpers for testing services: an in-process registry, a service started against it, and a
// typed client that goes through discovery like a real caller. Loads the registry server, so
// it is a separate entry (`@flotilla/service/testing`) that production code never imports.
import { createLogger } from '@flotilla/core';
import { DiscoveryClient } from '@flotilla/discovery';
import type { RunningRegistry } from '@flotilla/registry';
import type { TSchema } from '@sinclair/typebox';
import { type ClientOptions, createClient, type TypedClient } from '../client/client.js';
import type { Contract } from '../contract.js';
import { Service, type ServiceDefinition } from '../service.js';

const quiet = () => createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

/** A registry in this process, on a free loopback port. */
export async function startTestRegistry(): Promise<RunningRegistry> {
  const { startRegistry } = await import('@flotilla/registry');
  return startRegistry({ port: 0, host: '127.0.0.1', logger: quiet() });
}

/**
 * Starts a service in this process against `registryUrl` on a free port: quiet logs, short
 * lease, no drain delay. Pass a definition or a `Service` built with `createService`.
 */
export async function startTestService<
  C extends Contract,
  S extends TSchema | undefined,
  Cl extends Record<string, Contract>,
>(
  service: Service<C, S, Cl> | ServiceDefinition<C, S, Cl>,
  options: { registryUrl: string | false },
): Promise<Service<C, S, Cl>> {
  const definition = service instanceof Service ? service.definition : service;
  const started = new Service<C, S, Cl>({
    logger: quiet(),
    lease: { renewalIntervalMs: 1_000, durationMs: 3_000 },
    shutdown: { drainDelayMs: 0 },
    port: 0,
    ...definition,
    registryUrl: options.registryUrl,
  });
  return started.start();
}

/** A typed client that finds `contract`'s service through the registry, as another service would. */
export async function testClient<C extends Contract>(
  contract: C,
  options: { registryUrl: string } & Omit<Partial<ClientOptions>, 'discovery'>,
): Promise<TypedClient<C> & { close(): Promise<void> }> {
  const discovery = new DiscoveryClient({
    registryUrl: options.registryUrl,
    services: [contract.service],
    logger: quiet(),
  });
  await discovery.start();
  const client = createClient(contract, { ...options, discovery });
  const closeClient = client.close;
  return Object.assign(client, {
    close: async () => {
      await closeClient();
      await discovery.close();
    },
  });
}
