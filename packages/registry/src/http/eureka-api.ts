import { FlotillaError } from '@flotilla/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InstanceNotFoundError, NotRegisteredError } from '../errors.js';
import { type Change, type Instance, instanceKey, isRemoval } from '../model.js';
import type { Registry } from '../registry.js';
import {
  parseEurekaRegistration,
  reconcileHashCode,
  serviceFromApp,
  statusParam,
  toEurekaApplications,
  toEurekaInstance,
} from './eureka-format.js';
import { fieldError } from './problems.js';

/** How long changes stay in the delta (Eureka's `retentionTimeInMSInDeltaQueue`: 3 minutes). */
export const EUREKA_DELTA_RETENTION_MS = 180_000;

/**
 * Eureka's "recently changed" queue behind `apps/delta`: the changes of the last three minutes.
 * Clients fetch the delta every 30 s, so consecutive deltas overlap; applying one twice is
 * harmless because each instance appears once, with its latest state and action.
 */
class DeltaQueue {
  private entries: Change[] = [];

  constructor(private readonly registry: Registry) {
    registry.subscribe((event) => {
      if (event.type === 'change') this.entries.push(event.change);
      // After a resync the queue cannot say what changed; Java clients see the hash differ and
      // fetch everything, which is exactly what is needed.
      else if (event.type === 'resync') this.entries = [];
    });
  }

  delta(now: number): { instance: Instance; actionType: 'ADDED' | 'MODIFIED' | 'DELETED' }[] {
    const cutoff = now - EUREKA_DELTA_RETENTION_MS;
    const firstKept = this.entries.findIndex((c) => c.at >= cutoff);
    this.entries = firstKept === -1 ? [] : this.entries.slice(firstKept);
    const latest = new Map<string, Change>();
    for (const change of this.entries)
      latest.set(instanceKey(change.instance.service, change.instance.instanceId), change);
    const out: { instance: Instance; actionType: 'ADDED' | 'MODIFIED' | 'DELETED' }[] = [];
    for (const change of latest.values()) {
      const { service, instanceId } = change.instance;
      if (isRemoval(change.type)) {
        out.push({ instance: change.instance, actionType: 'DELETED' });
        continue;
      }
      const current = this.registry.view.get(service, instanceId);
      if (current)
        out.push({ instance: current, actionType: change.type === 'registered' ? 'ADDED' : 'MODIFIED' });
    }
    return out;
  }
}

function wantsJson(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return accept === undefined || accept === '' || accept.includes('json') || accept.includes('*/*');
}

function sendJson(request: FastifyRequest, reply: FastifyReply, body: unknown): FastifyReply {
  if (!wantsJson(request)) {
    const message = 'this registry speaks Eureka JSON only: send Accept: application/json';
    throw new FlotillaError(message, {
      code: 'NOT_ACCEPTABLE',
      status: 406,
      data: { errors: [{ field: '/headers/accept', message }] },
    });
  }
  return reply.type('application/json').send(body);
}

type Params = { app: string; id: string; vip: string };

/** Eureka's REST API under `/eureka` and `/eureka/v2` (the README lists what is supported). */
export function registerEurekaApi(app: FastifyInstance, registry: Registry): void {
  const deltas = new DeltaQueue(registry);

  const find = (request: FastifyRequest): Instance => {
    const { app: appName, id } = request.params as Params;
    const instance = registry.get(serviceFromApp(appName), id);
    if (!instance) throw InstanceNotFoundError.of(serviceFromApp(appName), id);
    return instance;
  };
  const all = () => [...registry.view.values()].map((instance) => ({ instance }));
  const byVip = (vip: string, secure: boolean) =>
    [...registry.view.values()]
      .filter((i) => {
        const list = (secure ? i.eureka?.secureVipAddress : i.eureka?.vipAddress) ?? i.service;
        return list.split(',').includes(vip);
      })
      .map((instance) => ({ instance }));

  for (const prefix of ['/eureka', '/eureka/v2']) {
    app.get(`${prefix}/apps`, async (request, reply) =>
      sendJson(
        request,
        reply,
        toEurekaApplications(all(), registry.revision, reconcileHashCode(registry.view.values())),
      ),
    );

    app.get(`${prefix}/apps/delta`, async (request, reply) => {
      const entries = deltas.delta(registry.clock.now());
      return sendJson(
        request,
        reply,
        toEurekaApplications(entries, registry.revision, reconcileHashCode(registry.view.values())),
      );
    });

    app.get(`${prefix}/apps/:app`, async (request, reply) => {
      const { app: appName } = request.params as Params;
      const instances = registry.instances(serviceFromApp(appName));
      if (instances.length === 0) {
        throw new InstanceNotFoundError(`No instances of app ${appName}`, { data: { app: appName } });
      }
      const { applications } = toEurekaApplications(
        instances.map((instance) => ({ instance })),
        registry.revision,
        '',
      );
      return sendJson(request, reply, { application: applications.application[0] });
    });

    app.get(`${prefix}/apps/:app/:id`, async (request, reply) =>
      sendJson(request, reply, { instance: toEurekaInstance(find(request)) }),
    );

    app.get(`${prefix}/instances/:id`, async (request, reply) => {
      const { id } = request.params as Params;
      const instance = registry.findById(id);
      if (!instance)
        throw new InstanceNotFoundError(`No instance with id ${id}`, { data: { instanceId: id } });
      return sendJson(request, reply, { instance: toEurekaInstance(instance) });
    });

    for (const [path, secure] of [
      ['vips', false],
      ['svips', true],
    ] as const) {
      app.get(`${prefix}/${path}/:vip`, async (request, reply) => {
        const { vip } = request.params as Params;
        const entries = byVip(vip, secure);
        if (entries.length === 0) throw new InstanceNotFoundError(`No instances with ${path} ${vip}`);
        return sendJson(
          request,
          reply,
          toEurekaApplications(entries, registry.revision, reconcileHashCode(entries.map((e) => e.instance))),
        );
      });
    }

    // Register: 204, as Eureka answers.
    app.post(`${prefix}/apps/:app`, async (request, reply) => {
      const { app: appName } = request.params as Params;
      await registry.register(parseEurekaRegistration(request.body, appName));
      return reply.code(204).send();
    });

    // Renew: 200, or 404 which tells Eureka clients to register again.
    app.put(`${prefix}/apps/:app/:id`, async (request, reply) => {
      const { app: appName, id } = request.params as Params;
      const service = serviceFromApp(appName);
      const current = registry.view.get(service, id);
      const dirty = (request.query as Record<string, unknown>).lastDirtyTimestamp;
      // The client changed its instance info since it registered: a 404 makes it send it again.
      if (
        current?.eureka?.lastDirtyTimestamp !== undefined &&
        typeof dirty === 'string' &&
        /^\d+$/.test(dirty)
      ) {
        if (Number(dirty) > current.eureka.lastDirtyTimestamp) throw NotRegisteredError.of(service, id);
      }
      await registry.renew(service, id);
      return reply.code(200).send();
    });

    app.delete(`${prefix}/apps/:app/:id`, async (request, reply) => {
      const { app: appName, id } = request.params as Params;
      await registry.deregister(serviceFromApp(appName), id);
      return reply.code(200).send();
    });

    app.put(`${prefix}/apps/:app/:id/status`, async (request, reply) => {
      const status = statusParam((request.query as Record<string, unknown>).value, '/query/value');
      const instance = find(request);
      await registry.setStatusOverride(instance.service, instance.instanceId, status);
      return reply.code(200).send();
    });

    // Removes the override; `?value=` (optional) is the status the instance goes back to.
    app.delete(`${prefix}/apps/:app/:id/status`, async (request, reply) => {
      const value = (request.query as Record<string, unknown>).value;
      const status = value === undefined ? undefined : statusParam(value, '/query/value');
      const instance = find(request);
      await registry.update(instance.service, instance.instanceId, (i) => {
        delete i.statusOverride;
        if (status !== undefined) i.reportedStatus = status;
      });
      return reply.code(200).send();
    });

    app.put(`${prefix}/apps/:app/:id/metadata`, async (request, reply) => {
      const instance = find(request);
      const patch: Record<string, string> = {};
      for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
        if (key.length > 128)
          throw fieldError(`/query/${key.slice(0, 32)}…`, 'metadata keys are at most 128 characters');
        patch[key] = Array.isArray(value) ? String(value[value.length - 1]) : String(value);
      }
      await registry.updateMetadata(instance.service, instance.instanceId, patch);
      return reply.code(200).send();
    });
  }
}
