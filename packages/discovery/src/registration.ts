import { type Clock, isFlotillaError, type Logger, sleep, type TimerHandle } from '@flotilla/core';
import { type BackoffOptions, ExponentialBackoff, isRetryable } from '@flotilla/resilience';
import { RegistryRequestError } from './errors.js';
import type { Instance, InstanceStatus, Lease, RegistrationInput } from './model.js';

export interface RegistrationOptions {
  registryUrl: string;
  clock: Clock;
  logger: Logger;
  fetch: typeof fetch;
  /** Delays between failed attempts (registration, renewal). Default 100 ms doubling to 5 s, full jitter. */
  retry?: BackoffOptions;
  /** Per-request timeout. Default 5 s. */
  requestTimeoutMs?: number;
  random?: () => number;
  /** Called after every (re-)registration the registry accepted. */
  onRegistered?(instance: Instance): void;
}

/**
 * How long to wait between renewals. Renewing "well before" the lease runs out is what makes a
 * lease survive the ordinary trouble of a live process: a lost or slow heartbeat, a GC pause,
 * a registry restart, a network blip. At a third of the lease, two renewals in a row can fail
 * and the third still lands before expiry (Eureka's 30 s / 90 s ratio, ours 10 s / 30 s).
 * Renewing near the end would leave no room for even one retry, and the instance would flap
 * out of every watcher's copy on the first hiccup.
 */
export function renewalDelay(lease: Lease): number {
  return Math.max(1, Math.min(lease.renewalIntervalMs, Math.floor(lease.durationMs / 3)));
}

async function problemOf(response: Response): Promise<{ code?: string; detail?: string }> {
  try {
    return (await response.json()) as { code?: string; detail?: string };
  } catch {
    return {};
  }
}

/**
 * Keeps one instance registered: registers (retrying until the registry accepts), renews on a
 * timer, registers again when a renewal answers `INSTANCE_NOT_REGISTERED` (evicted, or the
 * registry lost its state), and deregisters on `stop()`.
 */
export class Registration {
  private timer: TimerHandle | undefined;
  private readonly stopping = new AbortController();
  private inFlight: Promise<unknown> = Promise.resolve();
  private registered: Instance | undefined;
  private readonly backoff: ExponentialBackoff;
  private failures = 0;
  readonly instanceId: string;
  readonly service: string;

  constructor(
    private readonly input: RegistrationInput & { instanceId: string },
    private readonly options: RegistrationOptions,
  ) {
    this.instanceId = input.instanceId;
    this.service = input.service;
    this.backoff = new ExponentialBackoff(
      { initialDelayMs: 100, maxDelayMs: 5_000, ...options.retry },
      options.random,
    );
  }

  /** The instance as the registry last returned it. */
  get instance(): Instance | undefined {
    return this.registered;
  }

  private get base(): string {
    return new URL(`/v1/services/${encodeURIComponent(this.service)}/instances`, this.options.registryUrl)
      .href;
  }

  /** Registers, retrying retryable failures with backoff; then renews in the background. */
  async start(signal?: AbortSignal): Promise<Instance> {
    const abort = signal ? AbortSignal.any([signal, this.stopping.signal]) : this.stopping.signal;
    for (let attempt = 1; ; attempt++) {
      try {
        const instance = await this.track(this.register());
        this.schedule(renewalDelay(instance.lease));
        return instance;
      } catch (error) {
        if (!isRetryable(error) || abort.aborted) throw error;
        const delay = this.backoff.delay(attempt);
        this.options.logger.warn({ err: error, delayMs: delay }, 'registration failed; retrying');
        await sleep(delay, abort, this.options.clock);
      }
    }
  }

  /**
   * Reports a new status (STARTING → UP, UP → OUT_OF_SERVICE). The status is kept for
   * re-registrations, so an instance evicted while OUT_OF_SERVICE does not come back UP.
   */
  async setStatus(status: InstanceStatus): Promise<Instance> {
    this.input.status = status;
    const work = (async () => {
      await this.inFlight.catch(() => {});
      const response = await this.request(`${this.base}/${encodeURIComponent(this.instanceId)}/status`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ status }),
      });
      if (response.status === 404) return this.register();
      if (!response.ok) {
        const problem = await problemOf(response);
        throw new RegistryRequestError(`Status update answered ${response.status}`, {
          status: response.status,
          code: problem.code,
          retryable: response.status >= 500 || response.status === 429,
        });
      }
      const instance = (await response.json()) as Instance;
      this.registered = instance;
      return instance;
    })();
    return this.track(work);
  }

  /** Stops renewing and deregisters (a 404 — already gone — is fine). */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort();
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
    // Let a registration in flight land first, so the DELETE cannot overtake it and leave the
    // instance registered until its lease runs out.
    await this.inFlight.catch(() => {});
    try {
      const response = await this.request(`${this.base}/${encodeURIComponent(this.instanceId)}`, {
        method: 'DELETE',
      });
      if (!response.ok && response.status !== 404) {
        const problem = await problemOf(response);
        throw new RegistryRequestError(`Deregistration answered ${response.status}`, {
          status: response.status,
          code: problem.code,
        });
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'deregistration failed; the lease will expire instead');
    }
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight = work.catch(() => {});
    return work;
  }

  private schedule(delay: number): void {
    if (this.stopping.signal.aborted) return;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      void this.track(this.renew());
    }, delay);
  }

  private async renew(): Promise<void> {
    const lease = this.registered?.lease ??
      this.input.lease ?? { renewalIntervalMs: 10_000, durationMs: 30_000 };
    try {
      const response = await this.request(`${this.base}/${encodeURIComponent(this.instanceId)}/heartbeat`, {
        method: 'PUT',
      });
      if (response.status === 404) {
        const problem = await problemOf(response);
        this.options.logger.warn(
          { code: problem.code, instanceId: this.instanceId },
          'registry does not know this instance any more; registering again',
        );
        await this.register();
      } else if (!response.ok) {
        const problem = await problemOf(response);
        throw new RegistryRequestError(`Heartbeat answered ${response.status}`, {
          status: response.status,
          code: problem.code,
          retryable: response.status >= 500 || response.status === 429,
        });
      } else {
        await response.body?.cancel();
      }
      this.failures = 0;
      this.schedule(renewalDelay(this.registered?.lease ?? lease));
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      // Retry soon, but never later than the normal renewal would have been.
      this.failures++;
      const delay = Math.min(this.backoff.delay(this.failures), renewalDelay(lease));
      this.options.logger.warn({ err: error, delayMs: delay }, 'renewal failed; retrying');
      this.schedule(delay);
    }
  }

  private async register(): Promise<Instance> {
    const { input } = this;
    const response = await this.request(this.base, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
    if (!response.ok) {
      const problem = await problemOf(response);
      throw new RegistryRequestError(
        `Registration of ${this.service}/${this.instanceId} answered ${response.status}${
          problem.detail ? `: ${problem.detail}` : ''
        }`,
        {
          status: response.status,
          code: problem.code,
          data: { service: this.service, instanceId: this.instanceId, problem },
          retryable: response.status >= 500 || response.status === 429,
        },
      );
    }
    const instance = (await response.json()) as Instance;
    this.registered = instance;
    this.options.onRegistered?.(instance);
    return instance;
  }

  private async request(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.options.fetch(url, {
        ...init,
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 5_000),
      });
    } catch (error) {
      if (isFlotillaError(error)) throw error;
      throw new RegistryRequestError(`Registry at ${this.options.registryUrl} unreachable`, {
        cause: error,
        status: 503,
        retryable: true,
      });
    }
  }
}
