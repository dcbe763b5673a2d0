import { assertSelective, type DeadLetter, type DeadLetterFilter, type DeadLetterStore } from '@flotilla/bus';
import { UnavailableError } from '@flotilla/core';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
} from '@nats-io/jetstream';
import type { Names } from './names.js';

/** What the store needs from its adapter. */
export interface DeadLetterContext {
  readonly names: Names;
  readonly replicas: number;
  jsm(): JetStreamManager;
  js(): JetStreamClient;
  /** Makes sure the topic's stream exists (a replay may be the first message in a while). */
  ensureStream(topic: string): Promise<void>;
}

type Record = Omit<DeadLetter, 'id'>;

/** Wraps a driver error with what the store was doing. */
export function natsError(what: string, error: unknown): UnavailableError {
  const message = error instanceof Error ? error.message : String(error);
  return new UnavailableError(`NATS bus adapter: ${what} failed: ${message}`, { cause: error });
}

/**
 * Dead letters as messages of one limits-retention stream (`<prefix>__dlq`), subject
 * `<prefix>._dlq.<topic>.<group>`; the id of a dead letter is its stream sequence. Replay and
 * purge delete the message by sequence.
 */
export class NatsDeadLetterStore implements DeadLetterStore {
  private ready: Promise<void> | undefined;

  constructor(private readonly ctx: DeadLetterContext) {}

  /**
   * Stores a dead letter. `dedupId` makes a second record of one delivery (the ack after the
   * record was lost and the message came back) a duplicate the stream drops.
   */
  async record(record: Record, dedupId: string): Promise<void> {
    await this.ensure();
    try {
      await this.ctx
        .js()
        .publish(this.ctx.names.deadLetterSubject(record.topic, record.group), JSON.stringify(record), {
          msgID: dedupId,
        });
    } catch (error) {
      throw natsError(`storing a dead letter of ${record.topic}/${record.group}`, error);
    }
  }

  async list(filter: DeadLetterFilter & { limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = filter.limit ?? 100;
    const out: DeadLetter[] = [];
    for await (const entry of this.scan(filter)) {
      if (out.length >= limit) break;
      out.push(entry);
    }
    return out;
  }

  async replay(filter: DeadLetterFilter): Promise<number> {
    assertSelective('replay', filter);
    let count = 0;
    for await (const entry of this.scan(filter)) {
      await this.ctx.ensureStream(entry.topic);
      try {
        // A new Nats-Msg-Id: the original id may still be inside the duplicate window.
        await this.ctx
          .js()
          .publish(
            this.ctx.names.replaySubject(entry.topic, entry.group),
            JSON.stringify({ envelope: { ...entry.envelope, attempt: 1 }, payload: entry.payload }),
            { msgID: `${entry.envelope.messageId}/replay/${this.ctx.names.deadLetterStream}/${entry.id}` },
          );
      } catch (error) {
        throw natsError(`replaying dead letter ${entry.id}`, error);
      }
      await this.delete(entry.id);
      count++;
    }
    return count;
  }

  async purge(filter: DeadLetterFilter): Promise<number> {
    assertSelective('purge', filter);
    let count = 0;
    for await (const entry of this.scan(filter)) {
      await this.delete(entry.id);
      count++;
    }
    return count;
  }

  private async delete(id: string): Promise<void> {
    try {
      await this.ctx.jsm().streams.deleteMessage(this.ctx.names.deadLetterStream, Number(id), false);
    } catch (error) {
      if (!isCode(error, JetStreamApiCodes.NoMessageFound))
        throw natsError(`deleting dead letter ${id}`, error);
    }
  }

  /** Oldest first: by `ids` one lookup each, otherwise walking the filtered subjects. */
  private async *scan(filter: DeadLetterFilter): AsyncGenerator<DeadLetter> {
    await this.ensure();
    const subject = this.ctx.names.deadLetterFilter(filter.topic, filter.group);
    const matches = (d: DeadLetter) =>
      (filter.topic === undefined || d.topic === filter.topic) &&
      (filter.group === undefined || d.group === filter.group);
    if (filter.ids !== undefined) {
      const seqs = filter.ids.map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
      for (const seq of [...new Set(seqs)].sort((a, b) => a - b)) {
        const stored = await this.get({ seq });
        if (stored !== undefined && stored.seq === seq && matches(toDeadLetter(stored))) {
          yield toDeadLetter(stored);
        }
      }
      return;
    }
    let seq = 1;
    for (;;) {
      const stored = await this.get({ seq, next_by_subj: subject });
      if (stored === undefined) return;
      seq = stored.seq + 1;
      yield toDeadLetter(stored);
    }
  }

  private async get(request: { seq: number; next_by_subj?: string }): Promise<StoredMsg | undefined> {
    try {
      return (await this.ctx.jsm().streams.getMessage(this.ctx.names.deadLetterStream, request)) ?? undefined;
    } catch (error) {
      if (isCode(error, JetStreamApiCodes.NoMessageFound)) return undefined;
      throw natsError('reading dead letters', error);
    }
  }

  private ensure(): Promise<void> {
    if (this.ready === undefined) {
      const names = this.ctx.names;
      this.ready = this.ctx
        .jsm()
        .streams.add({
          name: names.deadLetterStream,
          subjects: [`${names.prefix}._dlq.>`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          num_replicas: this.ctx.replicas,
        })
        .then(
          () => {},
          (error: unknown) => {
            this.ready = undefined;
            throw natsError('creating the dead-letter stream', error);
          },
        );
    }
    return this.ready;
  }
}

export function isCode(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

function toDeadLetter(stored: StoredMsg): DeadLetter {
  return { id: String(stored.seq), ...stored.json<Record>() };
}
