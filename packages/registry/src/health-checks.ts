import { type Instance, instanceKey } from './model.js';
import type { Registry } from './registry.js';

interface ProbeState {
  successes: number;
  failures: number;
  nextAt: number;
  inFlight: boolean;
}

/**
 * Active health checks: for instances registered with `healthCheck`, the registry GETs
 * `healthCheckUrl` every `intervalMs`. A 2xx answer within `timeoutMs` is a success; anything
 * else a failure. After `unhealthyThreshold` consecutive failures the instance is DOWN (its
 * `health` and so its effective `status`); after `healthyThreshold` consecutive successes a DOWN
 * instance is UP again. Thresholds on both sides keep one slow answer from flapping the status.
 */
export class HealthChecker {
  private readonly states = new Map<string, ProbeState>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly registry: Registry,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  /** Starts every probe that is due at `now`; resolves when they have finished. */
  tick(now: number): Promise<void> {
    const seen = new Set<string>();
    const started: Promise<void>[] = [];
    for (const instance of this.registry.view.values()) {
      if (!instance.healthCheck || !instance.healthCheckUrl) continue;
      const key = instanceKey(instance.service, instance.instanceId);
      seen.add(key);
      let state = this.states.get(key);
      if (!state) {
        state = { successes: 0, failures: 0, nextAt: now, inFlight: false };
        this.states.set(key, state);
      }
      if (state.inFlight || now < state.nextAt) continue;
      state.nextAt = now + instance.healthCheck.intervalMs;
      started.push(this.track(this.check(instance, state)));
    }
    for (const key of this.states.keys()) if (!seen.has(key)) this.states.delete(key);
    return Promise.all(started).then(() => undefined);
  }

  /** Resolves when no probe is running. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** One probe: true when the health URL answered 2xx in time. */
  async probe(instance: Pick<Instance, 'healthCheckUrl' | 'healthCheck'>): Promise<boolean> {
    if (!instance.healthCheckUrl) return false;
    try {
      const response = await this.fetchImpl(instance.healthCheckUrl, {
        signal: AbortSignal.timeout(instance.healthCheck?.timeoutMs ?? 2_000),
        redirect: 'manual',
        headers: { 'user-agent': 'flotilla-registry-health-check' },
      });
      await response.body?.cancel().catch(() => {});
      return response.status >= 200 && response.status < 300;
    } catch {
      return false;
    }
  }

  private track(promise: Promise<void>): Promise<void> {
    this.inFlight.add(promise);
    return promise.finally(() => this.inFlight.delete(promise));
  }

  private async check(instance: Instance, state: ProbeState): Promise<void> {
    const settings = instance.healthCheck;
    if (!settings) return;
    state.inFlight = true;
    let ok: boolean;
    try {
      ok = await this.probe(instance);
    } finally {
      state.inFlight = false;
    }
    this.registry.hooks.healthChecked?.(instance, ok);
    if (ok) {
      state.successes++;
      state.failures = 0;
    } else {
      state.failures++;
      state.successes = 0;
    }
    const current = this.registry.view.get(instance.service, instance.instanceId);
    if (!current) return;
    let verdict: 'UP' | 'DOWN' | undefined;
    if (!ok && current.health !== 'DOWN' && state.failures >= settings.unhealthyThreshold) verdict = 'DOWN';
    if (ok && current.health === 'DOWN' && state.successes >= settings.healthyThreshold) verdict = 'UP';
    if (verdict === undefined) return;
    this.registry.logger.warn(
      {
        service: instance.service,
        instanceId: instance.instanceId,
        url: instance.healthCheckUrl,
        health: verdict,
      },
      verdict === 'DOWN'
        ? 'health checks failed: instance is DOWN'
        : 'health checks pass again: instance is UP',
    );
    await this.registry.setHealth(instance.service, instance.instanceId, verdict).catch(() => {});
  }
}
