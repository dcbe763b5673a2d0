/**
 * Watch event ids: `<epoch>:<revision>`. A revision alone is ambiguous — a memory registry
 * restarted without its snapshot counts from zero again, and another database has its own
 * counter — so every id names the revision history it counts in, and a resume from another
 * history gets a snapshot instead of someone else's changes. Clients treat ids as opaque.
 */

/** Where a resuming watcher left off. */
export interface ResumePoint {
  epoch: string;
  revision: number;
}

const EVENT_ID = /^([\w-]{1,100}):(\d{1,15})$/;
/** What ids looked like before epochs: still accepted, always answered with a snapshot. */
const BARE_REVISION = /^\d{1,15}$/;

/** The `id` of the event that brings a watcher to `revision` of `epoch`. */
export function eventId(epoch: string, revision: number): string {
  return `${epoch}:${revision}`;
}

/** True for anything `eventId` produces, and for a bare (pre-epoch) revision. */
export function isEventId(text: string): boolean {
  return EVENT_ID.test(text) || BARE_REVISION.test(text);
}

/** The resume point of an event id; undefined (start with a snapshot) for a bare revision or garbage. */
export function parseEventId(text: string): ResumePoint | undefined {
  const match = EVENT_ID.exec(text);
  if (!match) return undefined;
  return { epoch: match[1] as string, revision: Number(match[2]) };
}
