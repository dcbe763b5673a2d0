import type { Registry } from 'prom-client';

/**
 * Counters and histograms for the per-request hot path. prom-client hashes the label values on
 * every `inc`/`observe` (~0.25–0.45 µs each here); these resolve a label set once to a series
 * object, after which recording is a field update. They register in a prom-client `Registry`
 * as custom metrics (the `get()` shape prom-client itself produces), so `/metrics` and the
 * registry's other metrics are unchanged.
 */

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

interface SeriesOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  registers: readonly Registry[];
}

abstract class SeriesMetric<S extends { labels: Record<string, string> }> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum';
  abstract readonly type: 'counter' | 'histogram';
  protected readonly series = new Map<string, S>();
  private readonly labelNames: readonly string[];

  constructor(options: SeriesOptions) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    // Registry.registerMetric only reads the fields this class has (name, get, type, help, aggregator).
    for (const registry of options.registers)
      registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of these label values (in `labelNames` order), made on first use. */
  labels(...values: string[]): S {
    const key = values.length === 1 ? values[0]! : values.join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      if (values.length !== this.labelNames.length)
        throw new TypeError(
          `${this.name} takes ${this.labelNames.length} label values, got ${values.length}`,
        );
      const labels: Record<string, string> = {};
      for (let i = 0; i < values.length; i++) labels[this.labelNames[i]!] = values[i]!;
      series = this.create(labels);
      this.series.set(key, series);
    }
    return series;
  }

  /** Drops every series. */
  reset(): void {
    this.series.clear();
  }

  protected abstract create(labels: Record<string, string>): S;
  protected abstract values(): MetricValue[];

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.values(),
    };
  }
}

/** One label set of a {@link SeriesCounter}. */
export class CounterSeries {
  value = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** A counter whose label sets are resolved once; see the module comment. */
export class SeriesCounter extends SeriesMetric<CounterSeries> {
  readonly type = 'counter';

  protected create(labels: Record<string, string>): CounterSeries {
    return new CounterSeries(labels);
  }

  protected values(): MetricValue[] {
    return [...this.series.values()].map((s) => ({ value: s.value, labels: s.labels }));
  }
}

/** One label set of a {@link SeriesHistogram}: counts per bucket (not cumulative), sum, count. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A histogram whose label sets are resolved once; see the module comment. */
export class SeriesHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(options: SeriesOptions & { buckets: readonly number[] }) {
    super(options);
    this.bounds = [...options.buckets].sort((a, b) => a - b);
  }

  protected create(labels: Record<string, string>): HistogramSeries {
    return new HistogramSeries(labels, this.bounds);
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        out.push({
          value: cumulative,
          labels: { le: this.bounds[i]!, ...s.labels },
          metricName: `${this.name}_bucket`,
        });
      }
      out.push({ value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${this.name}_bucket` });
      out.push({ value: s.sum, labels: s.labels, metricName: `${this.name}_sum` });
      out.push({ value: s.count, labels: s.labels, metricName: `${this.name}_count` });
    }
    return out;
  }
}
