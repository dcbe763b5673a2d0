import {
  ConfigurationError,
  ManualClock,
  restoreError,
  serializeError,
  ValidationError,
} from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, BulkheadRejectedError, isBrokenCircuitError } from '../errors.js';
import type { ResilienceEvent } from '../events.js';
import { connectionRefused, deferred, flush, httpError } from '../fixtures/helpers.js';
import { CircuitBreaker } from './circuit-breaker.js';

const ok = () => Promise.resolve('ok');
const fail =
  (error: unknown = httpError(503)) =>
  () =>
    Promise.reject(error);

async function run(b: CircuitBreaker, outcomes: readonly boolean[]): Promise<void> {
  for (const good of outcomes) await b.execute(good ? ok : fail()).catch(() => undefined);
}

function breaker(clock: ManualClock, options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  return new CircuitBreaker({
    clock,
    name: 'catalog',
    slidingWindowSize: 10,
    minimumNumberOfCalls: 4,
    failureRateThreshold: 50,
    waitDurationInOpenStateMs: 1000,
    permittedNumberOfCallsInHalfOpenState: 2,
    ...options,
  });
}

describe('CircuitBreaker', () => {
  it('stays CLOSED below the minimum number of calls, however many of them fail', async () => {
    const b = breaker(new ManualClock());
    await run(b, [false, false, false]);
    expect(b.state).toBe('CLOSED');
    expect(b.snapshot().failureRate).toBe(-1);
  });

  it('opens when the failure rate reaches the threshold and refuses calls with a typed error', async () => {
    const clock = new ManualClock(10_000);
    const b = breaker(clock);
    const events: ResilienceEvent[] = [];
    b.onEvent((e) => events.push(e));
    await run(b, [true, true, false, false]);
    expect(b.state).toBe('OPEN');
    let ran = false;
    const error = await b
      .execute(async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect(isBrokenCircuitError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'CIRCUIT_OPEN', status: 503, retryable: false });
    expect((error as BrokenCircuitError).data).toMatchObject({
      policy: 'catalog',
      state: 'OPEN',
      retryAfterMs: 1000,
    });
    expect(events.map((e) => e.type)).toEqual(['state-change', 'rejected']);
    expect(events[0]).toMatchObject({ from: 'CLOSED', to: 'OPEN', policy: 'catalog', at: 10_000 });
    expect(b.snapshot()).toMatchObject({
      notPermittedCalls: 1,
      failedCalls: 2,
      successfulCalls: 2,
      transitions: 1,
    });
  });

  it('moves to HALF_OPEN after the wait, admits N trial calls and closes when they succeed', async () => {
    const clock = new ManualClock();
    const b = breaker(clock);
    await run(b, [false, false, false, false]);
    clock.advance(999);
    expect(b.state).toBe('OPEN');
    clock.advance(1);
    expect(b.state).toBe('HALF_OPEN');
    const first = deferred<string>();
    const second = deferred<string>();
    const t1 = b.execute(() => first.promise);
    const t2 = b.execute(() => second.promise);
    // The third concurrent call finds no permit left.
    await expect(b.execute(ok)).rejects.toMatchObject({ code: 'CIRCUIT_OPEN', data: { state: 'HALF_OPEN' } });
    first.resolve('a');
    second.resolve('b');
    await expect(Promise.all([t1, t2])).resolves.toEqual(['a', 'b']);
    expect(b.state).toBe('CLOSED');
    expect(b.snapshot().bufferedCalls).toBe(0);
  });

  it('records calls run by callbacks (acquirePermission, onSuccess, onError) as execute does', async () => {
    const clock = new ManualClock(5_000);
    const viaExecute = breaker(clock);
    const manual = breaker(clock);
    const aborted = new DOMException('the caller left', 'AbortError');
    const outcomes: unknown[] = [undefined, httpError(503), httpError(404), aborted, httpError(503)];
    for (const outcome of outcomes) {
      const permit = manual.acquirePermission();
      const start = clock.now();
      clock.advance(10);
      if (outcome === undefined) manual.onSuccess(permit, start, clock.now());
      else manual.onError(permit, start, clock.now(), outcome);
      await viaExecute.execute(outcome === undefined ? ok : fail(outcome)).catch(() => undefined);
    }
    expect(manual.state).toBe('OPEN');
    const { name: _a, ...expected } = viaExecute.snapshot();
    const { name: _b, ...actual } = manual.snapshot();
    expect(actual).toEqual(expected);
    expect(() => manual.acquirePermission()).toThrow(BrokenCircuitError);
    // Half open: two trial permits; one handed back unused is free again.
    clock.advance(1_000);
    const first = manual.acquirePermission();
    const second = manual.acquirePermission();
    expect(() => manual.acquirePermission()).toThrow(BrokenCircuitError);
    manual.releasePermission(second);
    const third = manual.acquirePermission();
    manual.onSuccess(first, clock.now(), clock.now());
    manual.onSuccess(third, clock.now(), clock.now());
    expect(manual.state).toBe('CLOSED');
  });

  it('re-opens from HALF_OPEN when the trial calls fail', async () => {
    const clock = new ManualClock();
    const b = breaker(clock);
    await run(b, [false, false, false, false]);
    clock.advance(1000);
    await run(b, [true, false]);
    expect(b.state).toBe('OPEN');
    clock.advance(999);
    await expect(b.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
  });

  it('opens on the slow-call rate, measuring durations on its clock', async () => {
    const clock = new ManualClock();
    const b = breaker(clock, { slowCallDurationThresholdMs: 100, slowCallRateThreshold: 50 });
    for (let i = 0; i < 4; i++) {
      const d = deferred<string>();
      const p = b.execute(() => d.promise);
      clock.advance(i < 2 ? 150 : 10);
      d.resolve('ok');
      await p;
    }
    expect(b.snapshot()).toMatchObject({ state: 'OPEN', slowCalls: 2, failedCalls: 0 });
  });

  it('counts no call as slow when slowCallDurationThresholdMs is Infinity, alone or composed', async () => {
    const clock = new ManualClock();
    for (const composed of [false, true]) {
      const b = breaker(clock, { slowCallDurationThresholdMs: Number.POSITIVE_INFINITY });
      const execute = (fn: () => Promise<string>) => (composed ? b.execute(fn, {}) : b.execute(fn));
      for (let i = 0; i < 4; i++) {
        const d = deferred<string>();
        const p = execute(() => d.promise);
        clock.advance(3_600_000);
        d.resolve('ok');
        await p;
      }
      expect(b.snapshot()).toMatchObject({ state: 'CLOSED', slowCalls: 0, successfulCalls: 4 });
      // The failure rate still counts: 4 of 8 calls failed.
      await run(b, [false, false, false, false]);
      expect(b.snapshot()).toMatchObject({ state: 'OPEN', failedCalls: 4 });
    }
  });

  it("gives work run alone a context that nests like the engine's", async () => {
    const b = breaker(new ManualClock());
    const inner = breaker(new ManualClock(), { name: 'inner' });
    for (const options of [undefined, {}]) {
      const seen = await b.execute(
        (ctx) =>
          inner.execute(
            (nested) => ({
              outer: [ctx.attempt, ctx.deadline, ctx.signal.aborted],
              nested: [nested.attempt, nested.deadline, nested.signal.aborted],
            }),
            ctx,
          ),
        options,
      );
      expect(seen).toEqual({ outer: [1, undefined, false], nested: [1, undefined, false] });
    }
    expect(inner.snapshot()).toMatchObject({ successfulCalls: 2 });
  });

  it('counts connection errors, timeouts and 5xx as failures but not 4xx', async () => {
    const b = breaker(new ManualClock(), { minimumNumberOfCalls: 100, slidingWindowSize: 100 });
    for (const e of [httpError(404), new ValidationError('bad'), httpError(429)])
      await b.execute(fail(e)).catch(() => 0);
    expect(b.snapshot()).toMatchObject({ failedCalls: 0, successfulCalls: 3 });
    for (const e of [httpError(500), connectionRefused(), new Error('bug')])
      await b.execute(fail(e)).catch(() => 0);
    expect(b.snapshot()).toMatchObject({ failedCalls: 3, successfulCalls: 3 });
  });

  it('ignores the policies own rejections and gives a trial permit back', async () => {
    const clock = new ManualClock();
    const b = breaker(clock);
    await run(b, [false, false, false, false]);
    clock.advance(1000);
    await b.execute(fail(new BulkheadRejectedError('full'))).catch(() => 0);
    expect(b.snapshot()).toMatchObject({ state: 'HALF_OPEN', ignoredCalls: 1 });
    await run(b, [true, true]);
    expect(b.state).toBe('CLOSED');
  });

  it('does not credit an outcome to a state entered after the call was admitted', async () => {
    const clock = new ManualClock();
    const b = breaker(clock);
    const slow = deferred<string>();
    const pending = b.execute(() => slow.promise);
    await run(b, [false, false, false, false]);
    expect(b.state).toBe('OPEN');
    clock.advance(1000);
    expect(b.state).toBe('HALF_OPEN');
    slow.resolve('late');
    await pending;
    // The late success was admitted while CLOSED: it is not one of the two trial calls.
    expect(b.state).toBe('HALF_OPEN');
  });

  it('evaluates a time-based window over the last N seconds', async () => {
    const clock = new ManualClock();
    const b = breaker(clock, {
      slidingWindowType: 'TIME_BASED',
      slidingWindowSize: 10,
      minimumNumberOfCalls: 3,
    });
    await run(b, [false, false]);
    clock.advance(11_000);
    await run(b, [true, false]);
    // The two old failures left the window: 1 of 2 is below the minimum of 3 calls.
    expect(b.state).toBe('CLOSED');
    await run(b, [true]);
    expect(b.snapshot()).toMatchObject({ state: 'CLOSED', bufferedCalls: 3, bufferedFailedCalls: 1 });
    await run(b, [false]);
    expect(b.state).toBe('OPEN');
  });

  it('supports FORCED_OPEN, DISABLED and reset', async () => {
    const b = breaker(new ManualClock());
    b.transitionToForcedOpenState();
    await expect(b.execute(ok)).rejects.toMatchObject({ data: { state: 'FORCED_OPEN' } });
    b.transitionToDisabledState();
    await run(b, [false, false, false, false, false]);
    expect(b.snapshot()).toMatchObject({ state: 'DISABLED', bufferedCalls: 0 });
    b.reset();
    expect(b.state).toBe('CLOSED');
  });

  it('caps the minimum number of calls at the size of a count window (as resilience4j does)', async () => {
    const b = breaker(new ManualClock(), { slidingWindowSize: 2, minimumNumberOfCalls: 100 });
    await run(b, [false, false]);
    expect(b.state).toBe('OPEN');
  });

  it('survives a trip across the wire as the same class', () => {
    const error = new BrokenCircuitError('open', { data: { policy: 'x', state: 'OPEN' } });
    const back = restoreError(JSON.parse(JSON.stringify(serializeError(error))));
    expect(back).toBeInstanceOf(BrokenCircuitError);
    expect(back.code).toBe('CIRCUIT_OPEN');
  });

  it('rejects bad configuration at construction, naming the field and the value', () => {
    const make = (options: ConstructorParameters<typeof CircuitBreaker>[0]) => () =>
      new CircuitBreaker(options);
    expect(make({ failureRateThreshold: 150 })).toThrow(
      'CircuitBreaker failureRateThreshold should be in (0, 100], got 150',
    );
    expect(make({ failureRateThreshold: 0 })).toThrow(ConfigurationError);
    expect(make({ slidingWindowSize: 0 })).toThrow(
      'CircuitBreaker slidingWindowSize should be an integer >= 1, got 0',
    );
    expect(make({ minimumNumberOfCalls: 1.5 })).toThrow(
      'minimumNumberOfCalls should be an integer >= 1, got 1.5',
    );
    expect(make({ waitDurationInOpenStateMs: -1 })).toThrow(
      'waitDurationInOpenStateMs should be a number >= 0, got -1',
    );
    expect(make({ slowCallDurationThresholdMs: 0 })).toThrow(
      'slowCallDurationThresholdMs should be a number >= 1 (or Infinity), got 0',
    );
    expect(make({ slidingWindowType: 'SESSION' as never })).toThrow(
      'CircuitBreaker slidingWindowType should be one of "COUNT_BASED", "TIME_BASED", got "SESSION"',
    );
  });

  it('lets pending work finish after a flush without leaking permits', async () => {
    const b = breaker(new ManualClock());
    await Promise.all(Array.from({ length: 20 }, () => b.execute(ok)));
    await flush();
    expect(b.snapshot()).toMatchObject({ successfulCalls: 20, bufferedCalls: 10 });
  });
});
