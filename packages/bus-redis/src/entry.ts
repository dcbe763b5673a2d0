import type { Envelope } from '@flotilla/core';

/**
 * A stream entry as the consumer handles it. Topic streams hold what was published (fields `e`
 * envelope JSON, `p` payload JSON); a group's retry stream holds copies (field `r`: the message,
 * the attempt it starts at and when the first attempt failed), made by a retry or a DLQ replay.
 */
export interface Entry {
  readonly stream: string;
  readonly id: string;
  /** A copy in the group's own retry stream: deleted once settled. */
  readonly copy: boolean;
  readonly envelope: Envelope;
  readonly payload: unknown;
  /** Attempt number of this entry's first delivery. */
  readonly baseAttempt: number;
  readonly firstFailureAt: number | undefined;
}

/** What a retry copy carries (field `r`). */
export interface CopyBody {
  /** Unique, so two copies of one message are distinct members of the delayed set. */
  readonly u: string;
  readonly envelope: unknown;
  readonly payload: unknown;
  readonly attempt: number;
  readonly firstFailureAt?: number;
}

/** Raw stream entries as Redis returns them: `[id, [field, value, …] | null]`. */
export type RawEntry = [string, string[] | null];

/** The value of `name` in a raw field list (a Map per entry costs more than the scan). */
function field(raw: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === name) return raw[i + 1];
  return undefined;
}

function json(text: string | undefined): { ok: true; value: unknown } | { ok: false } {
  if (text === undefined) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * Parses an entry. One that is not valid JSON is still delivered, with an empty envelope, so the
 * bus dead-letters it as `invalid-envelope` instead of it blocking the group.
 */
export function parseEntry(stream: string, copy: boolean, id: string, raw: string[]): Entry {
  if (copy) {
    const body = json(field(raw, 'r'));
    const value = (body.ok ? body.value : {}) as Partial<CopyBody>;
    return {
      stream,
      id,
      copy,
      envelope: (value.envelope ?? {}) as Envelope,
      payload: value.payload ?? field(raw, 'r'),
      baseAttempt: typeof value.attempt === 'number' ? value.attempt : 1,
      firstFailureAt: value.firstFailureAt,
    };
  }
  const envelope = json(field(raw, 'e'));
  const payload = json(field(raw, 'p'));
  return {
    stream,
    id,
    copy,
    envelope: (envelope.ok && typeof envelope.value === 'object' && envelope.value !== null
      ? envelope.value
      : {}) as Envelope,
    payload: payload.ok ? payload.value : field(raw, 'p'),
    baseAttempt: 1,
    firstFailureAt: undefined,
  };
}
