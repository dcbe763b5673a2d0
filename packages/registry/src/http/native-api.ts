import { compileValidator, type InstanceStatus } from '@flotilla/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InstanceNotFoundError } from '../errors.js';
import {
  DEFAULT_HEALTH_CHECK,
  INSTANCE_STATUSES,
  type Instance,
  type InstanceFilter,
  leaseExpiresAt,
} from '../model.js';
import type { Registry } from '../registry.js';
import {
  MetadataPatchSchema,
  RegistrationBodySchema,
  ServiceNameSchema,
  StatusBodySchema,
} from '../schemas.js';
import { eventId } from './event-id.js';
import { fieldError } from './problems.js';

const registrationBody = compileValidator(RegistrationBodySchema, '/body');
const statusBody = compileValidator(StatusBodySchema, '/body');
const metadataBody = compileValidator(MetadataPatchSchema, '/body');
const serviceName = compileValidator(ServiceNameSchema, '/path/service');

type Params = { service: string; instanceId: string };

/** The service named in the path, or a 400 naming `/path/service`. */
function pathService(request: FastifyRequest): string {
  const { service } = request.params as Partial<Params>;
  return serviceName.assert(service);
}

function pathIds(request: FastifyRequest): Params {
  const { instanceId } = request.params as Partial<Params>;
  if (!instanceId) throw fieldError('/path/instanceId', 'must not be empty');
  return { service: pathService(request), instanceId };
}

/** Query values as a list: repeated parameters and comma-separated values both work. */
function listParam(query: Record<string, unknown>, name: string): string[] | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  const values = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => String(v).split(','));
  return values.map((v) => v.trim()).filter((v) => v !== '');
}

/** `?status=UP&version=1.2&zone=eu-1a&metadata.team=checkout` as an `InstanceFilter`. */
export function parseFilter(query: Record<string, unknown>): InstanceFilter {
  const filter: InstanceFilter = {};
  const status = listParam(query, 'status');
  if (status) {
    for (const s of status) {
      if (!INSTANCE_STATUSES.includes(s as InstanceStatus)) {
        throw fieldError('/query/status', `must be one of ${INSTANCE_STATUSES.join(', ')}, got "${s}"`);
      }
    }
    filter.status = status as InstanceStatus[];
  }
  const version = listParam(query, 'version');
  if (version) filter.version = version;
  const zone = listParam(query, 'zone');
  if (zone) filter.zone = zone;
  for (const [key, value] of Object.entries(query)) {
    if (!key.startsWith('metadata.')) continue;
    const name = key.slice('metadata.'.length);
    if (name === '') throw fieldError(`/query/${key}`, 'metadata filters are metadata.<key>=<value>');
    if (Array.isArray(value)) throw fieldError(`/query/${key}`, 'give each metadata filter once');
    filter.metadata = { ...filter.metadata, [name]: String(value) };
  }
  return filter;
}

/** The native JSON API under `/v1` (see the README for the contract). */
export function registerNativeApi(app: FastifyInstance, registry: Registry): void {
  app.get('/v1/registry', async () => ({
    nodeId: registry.nodeId,
    store: registry.store.kind,
    capabilities: registry.capabilities,
    epoch: registry.epoch,
    revision: registry.revision,
    services: registry.services().length,
    instances: registry.view.size,
    selfPreservation: registry.selfPreservation,
  }));

  app.get('/v1/services', async () => registry.services());

  app.get('/v1/services/:service/instances', async (request) => {
    const service = pathService(request);
    const filter = parseFilter(request.query as Record<string, unknown>);
    return {
      service,
      revision: registry.revision,
      eventId: eventId(registry.epoch, registry.revision),
      instances: registry.instances(service, filter),
    };
  });

  app.post('/v1/services/:service/instances', async (request, reply) => {
    const service = pathService(request);
    const body = registrationBody.assert(request.body);
    if (body.service !== undefined && body.service !== service) {
      throw fieldError(
        '/body/service',
        `must match the service in the path ("${service}"), got "${body.service}"`,
      );
    }
    if (body.lease && body.lease.durationMs <= body.lease.renewalIntervalMs) {
      throw fieldError(
        '/body/lease/durationMs',
        `must be longer than renewalIntervalMs (${body.lease.renewalIntervalMs}), got ${body.lease.durationMs}`,
      );
    }
    if (body.healthCheck && !body.healthCheckUrl) {
      throw fieldError('/body/healthCheckUrl', 'is required when healthCheck is given');
    }
    const { instance, created } = await registry.register({
      ...body,
      service,
      healthCheck: body.healthCheck && { ...DEFAULT_HEALTH_CHECK, ...body.healthCheck },
    });
    const location = `/v1/services/${service}/instances/${encodeURIComponent(instance.instanceId)}`;
    return reply
      .code(created ? 201 : 200)
      .header('location', location)
      .send(instance);
  });

  app.get('/v1/services/:service/instances/:instanceId', async (request) => {
    const { service, instanceId } = pathIds(request);
    const instance = registry.get(service, instanceId);
    if (!instance) throw InstanceNotFoundError.of(service, instanceId);
    return instance;
  });

  app.delete('/v1/services/:service/instances/:instanceId', async (request, reply) => {
    const { service, instanceId } = pathIds(request);
    await registry.deregister(service, instanceId);
    return reply.code(204).send();
  });

  app.put('/v1/services/:service/instances/:instanceId/heartbeat', async (request) => {
    const { service, instanceId } = pathIds(request);
    return leaseView(await registry.renew(service, instanceId));
  });

  app.put('/v1/services/:service/instances/:instanceId/status', async (request) => {
    const { service, instanceId } = pathIds(request);
    const { status } = statusBody.assert(request.body);
    return registry.setStatus(service, instanceId, status);
  });

  app.put('/v1/services/:service/instances/:instanceId/status-override', async (request) => {
    const { service, instanceId } = pathIds(request);
    const { status } = statusBody.assert(request.body);
    return registry.setStatusOverride(service, instanceId, status);
  });

  app.delete('/v1/services/:service/instances/:instanceId/status-override', async (request) => {
    const { service, instanceId } = pathIds(request);
    return registry.setStatusOverride(service, instanceId, undefined);
  });

  app.patch('/v1/services/:service/instances/:instanceId/metadata', async (request) => {
    const { service, instanceId } = pathIds(request);
    const patch = metadataBody.assert(request.body);
    return registry.updateMetadata(service, instanceId, patch);
  });
}

/** What a heartbeat answers: the lease as it now stands. */
function leaseView(instance: Instance) {
  return {
    service: instance.service,
    instanceId: instance.instanceId,
    status: instance.status,
    lastRenewedAt: instance.lastRenewedAt,
    expiresAt: leaseExpiresAt(instance),
    lease: instance.lease,
  };
}
