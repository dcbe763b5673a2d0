import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SeriesCounter, SeriesHistogram } from './series.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

describe('series metrics', () => {
  it('expose exactly what prom-client metrics with the same observations expose', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const histogram = new SeriesHistogram({
      name: 'x_seconds',
      help: 'h',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers: [ours],
    });
    const reference = new Histogram({
      name: 'x_seconds',
      help: 'h',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers: [theirs],
    });
    const counter = new SeriesCounter({
      name: 'y_total',
      help: 'c',
      labelNames: ['route', 'status'],
      registers: [ours],
    });
    const referenceCounter = new Counter({
      name: 'y_total',
      help: 'c',
      labelNames: ['route', 'status'],
      registers: [theirs],
    });
    // Values on bucket bounds, between them, above the last one, and zero.
    const values = [0, 0.001, 0.0011, 0.01, 0.5, 1, 2, 30];
    for (const [i, value] of values.entries()) {
      const route = i % 2 === 0 ? 'a' : 'b';
      histogram.labels(route).observe(value);
      reference.labels(route).observe(value);
      counter.labels(route, String(200 + i)).inc();
      referenceCounter.labels(route, String(200 + i)).inc();
    }
    counter.labels('a', '200').inc(2);
    referenceCounter.labels('a', '200').inc(2);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('refuses a wrong number of label values', () => {
    const counter = new SeriesCounter({ name: 'z_total', help: 'c', labelNames: ['a', 'b'], registers: [] });
    expect(() => counter.labels('only-one')).toThrow(/takes 2 label values/);
  });
});
