import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from './sse.js';

function parse(chunks: string[]) {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = new SseParser({
    onEvent: (e) => events.push(e),
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => comments.push(c),
  });
  for (const chunk of chunks) parser.push(chunk);
  return { events, retries, comments, parser };
}

const stream =
  '\ufeffretry: 1000\n\n: ping\n\nid: 7\nevent: snapshot\ndata: {"a":1}\n\n' +
  'id: 9\nevent: registered\ndata: line one\ndata: line two\n\ndata:no space\n\n';

describe('SseParser', () => {
  it('parses ids, event types, multi-line data, comments and retry', () => {
    const { events, retries, comments } = parse([stream]);
    expect(events).toEqual([
      { event: 'snapshot', data: '{"a":1}', id: '7' },
      { event: 'registered', data: 'line one\nline two', id: '9' },
      { event: 'message', data: 'no space', id: '9' },
    ]);
    expect(retries).toEqual([1000]);
    expect(comments).toEqual(['ping']);
  });

  it('gives the same events whatever the chunk boundaries', () => {
    const expected = parse([stream]).events;
    for (let size = 1; size <= 7; size++) {
      const chunks: string[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
      expect(parse(chunks).events).toEqual(expected);
    }
    for (let cut = 0; cut <= stream.length; cut++) {
      expect(parse([stream.slice(0, cut), stream.slice(cut)]).events).toEqual(expected);
    }
  });

  it('accepts CRLF and lone CR line endings, also with CRLF split across chunks', () => {
    const crlf = stream.replaceAll('\n', '\r\n');
    const cr = stream.replaceAll('\n', '\r');
    const expected = parse([stream]).events;
    expect(parse([crlf]).events).toEqual(expected);
    expect(parse([cr]).events).toEqual(expected);
    for (let cut = 0; cut <= crlf.length; cut++) {
      expect(parse([crlf.slice(0, cut), crlf.slice(cut)]).events).toEqual(expected);
    }
  });

  it('does not dispatch events without data, and drops an unterminated event', () => {
    const { events } = parse(['event: x\n\nid: 3\n\ndata: partial']);
    expect(events).toEqual([]);
  });

  it('keeps the last id across events, ignores ids with NUL and non-numeric retry', () => {
    const { events, retries, parser } = parse([
      'id: 5\ndata: a\n\ndata: b\n\nid: x\0y\nretry: 1s\ndata: c\n\n',
    ]);
    expect(events.map((e) => e.id)).toEqual(['5', '5', '5']);
    expect(retries).toEqual([]);
    expect(parser.lastId).toBe('5');
  });

  it('treats a line without a colon as a field with an empty value and ignores unknown fields', () => {
    const { events } = parse(['data\nfoo: bar\ndata\n\n']);
    expect(events).toEqual([{ event: 'message', data: '\n', id: undefined }]);
  });

  it('forgets a partial event on reset but keeps the last id', () => {
    const events: SseEvent[] = [];
    const parser = new SseParser({ onEvent: (e) => events.push(e) });
    parser.push('id: 4\ndata: a\n\nevent: registered\ndata: half');
    parser.reset();
    parser.push('data: whole\n\n');
    expect(events).toEqual([
      { event: 'message', data: 'a', id: '4' },
      { event: 'message', data: 'whole', id: '4' },
    ]);
  });
});
