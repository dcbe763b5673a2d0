import { randomBytes } from 'node:crypto';
import { createLogger } from '@flotilla/core';
import type { BusAdapter } from '../adapter.js';
import { type Bus, createBus } from '../bus.js';
import type { SubscribeDefaults } from '../options.js';

/** How the conformance suite gets adapters of the implementation under test. */
export interface AdapterFactory {
  /**
   * A new adapter on the broker under test. Called several times per test, once per simulated
   * service instance: adapters made by one factory must reach the same broker (or database).
   */
  createAdapter(): BusAdapter | Promise<BusAdapter>;
}

/** Waits until `check` holds, polling; throws naming `what` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise a test opens by hand (to hold a handler in flight). */
export class Gate {
  readonly opened: Promise<void>;
  open!: () => void;
  constructor() {
    this.opened = new Promise((resolve) => {
      this.open = resolve;
    });
  }
}

/** What one conformance test sets up; everything is closed after the test. */
export class Harness {
  /** Unique per test, so tests never see each other's topics and groups. */
  readonly prefix = `c${randomBytes(5).toString('hex')}`;
  private readonly buses: Bus[] = [];
  private readonly gates: Gate[] = [];

  constructor(private readonly factory: AdapterFactory) {}

  /** A topic or target name of this test. */
  name(suffix: string): string {
    return `${this.prefix}.${suffix}`;
  }

  /** A bus for one instance of `service`, on a new adapter. */
  async bus(service: string, defaults?: SubscribeDefaults): Promise<{ bus: Bus; adapter: BusAdapter }> {
    const adapter = await this.factory.createAdapter();
    const logger = createLogger({ service, level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
    const bus = await createBus({ adapter, service, logger, ...(defaults ? { defaults } : {}) });
    this.buses.push(bus);
    return { bus, adapter };
  }

  gate(): Gate {
    const gate = new Gate();
    this.gates.push(gate);
    return gate;
  }

  async close(): Promise<void> {
    for (const gate of this.gates) gate.open();
    await Promise.all(this.buses.map((bus) => bus.close().catch(() => {})));
  }
}
