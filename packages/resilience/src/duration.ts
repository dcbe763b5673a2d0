import { ConfigurationError } from '@flotilla/core';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;

/**
 * Parses a duration as Dapr's resiliency spec writes them (Go syntax: `250ms`, `5s`, `1m30s`,
 * `1h`) or a number of milliseconds. `field` names the setting in the error.
 */
export function parseDuration(value: unknown, field: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    if (WHOLE.test(text)) {
      let ms = 0;
      for (const m of text.matchAll(PART)) ms += Number(m[1]) * UNITS[m[2]!]!;
      return ms;
    }
  }
  throw new ConfigurationError(
    `${field} should be a duration like "250ms", "5s", "1m30s" or a number of ms, got ${JSON.stringify(value)}`,
    { data: { field, value: String(value) } },
  );
}
