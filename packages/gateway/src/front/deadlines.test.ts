import { describe, expect, it } from 'vitest';
import { DeadlineList, DeadlineLists, type Due } from './deadlines.js';

/** An item that records when it expired, in the order items expire. */
function item(name: string, deadline: number, expired: string[]): Due & { name: string } {
  return {
    name,
    deadline,
    previousDue: undefined,
    nextDue: undefined,
    dueList: undefined,
    expire() {
      expired.push(name);
    },
  };
}

const until = async (done: () => boolean) => {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('DeadlineList', () => {
  it('expires items in deadline order, each once, and keeps a removed one', async () => {
    const list = new DeadlineList();
    const expired: string[] = [];
    const now = Date.now();
    const a = item('a', now + 20, expired);
    const b = item('b', now + 40, expired);
    const c = item('c', now + 60, expired);
    const d = item('d', now + 80, expired);
    for (const x of [a, b, c, d]) list.add(x);
    list.remove(b); // from the middle
    list.remove(a); // the head, whose deadline the timer was set for
    await until(() => expired.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(expired).toEqual(['c', 'd']);
    expect([c.dueList, d.dueList, a.dueList, b.dueList]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('puts an earlier deadline before later ones, and takes items again after it ran empty', async () => {
    const list = new DeadlineList();
    const expired: string[] = [];
    const late = item('late', Date.now() + 5_000, expired);
    list.add(late);
    const early = item('early', Date.now() + 10, expired);
    list.add(early);
    await until(() => expired.length === 1);
    expect(expired).toEqual(['early']);
    expect(late.dueList).toBe(list);
    list.remove(late);
    const again = item('again', Date.now() + 10, expired);
    list.add(again);
    await until(() => expired.length === 2);
    expect(expired).toEqual(['early', 'again']);
  });

  it('removing an item twice, or from another list, changes nothing', async () => {
    const one = new DeadlineList();
    const other = new DeadlineList();
    const expired: string[] = [];
    const a = item('a', Date.now() + 10, expired);
    const b = item('b', Date.now() + 20, expired);
    one.add(a);
    one.add(b);
    other.remove(a);
    one.remove(a);
    one.remove(a);
    await until(() => expired.length === 1);
    expect(expired).toEqual(['b']);
  });

  it('goes on after an item that throws, and reports the error as a warning', async () => {
    const list = new DeadlineList();
    const expired: string[] = [];
    const thrower = item('thrower', Date.now() + 10, expired);
    thrower.expire = () => {
      throw new Error('boom');
    };
    const onWarning = (warning: Error) => expired.push(`warning ${warning.message}`);
    process.on('warning', onWarning);
    list.add(thrower);
    list.add(item('next', Date.now() + 40, expired));
    try {
      await until(() => expired.includes('next'));
    } finally {
      process.off('warning', onWarning);
    }
    expect(expired).toEqual(['warning boom', 'next']);
  });
});

describe('DeadlineLists', () => {
  it('gives one list per length', () => {
    const lists = new DeadlineLists();
    expect(lists.of(200)).toBe(lists.of(200));
    expect(lists.of(200)).not.toBe(lists.of(300));
  });
});
