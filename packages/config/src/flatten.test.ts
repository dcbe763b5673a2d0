import { describe, expect, it } from 'vitest';
import { changedPaths, expandDottedKeys, getPath, springFlatten } from './flatten.js';
import { parseYamlConfig } from './server/sources/yaml-document.js';

describe('tree helpers', () => {
  it('expands dotted keys into nested maps, inside lists too', () => {
    expect(expandDottedKeys({ 'db.pool.size': 5, db: { url: 'x' }, list: [{ 'a.b': 1 }] })).toEqual({
      db: { pool: { size: 5 }, url: 'x' },
      list: [{ a: { b: 1 } }],
    });
  });

  it("flattens the way Spring's YamlProcessor does", () => {
    expect(
      springFlatten({ a: { b: 1, list: ['x', { name: 'y' }], empty: [], none: null, map: {} }, top: true }),
    ).toEqual({
      'a.b': 1,
      'a.list[0]': 'x',
      'a.list[1].name': 'y',
      'a.empty': '',
      'a.none': '',
      'a.map': '',
      top: true,
    });
  });

  it('lists the paths that changed between two trees', () => {
    expect(changedPaths({ a: { b: 1, c: 2 }, l: [1] }, { a: { b: 1, c: 3 }, l: [1, 2], n: 0 })).toEqual([
      'a.c',
      'l',
      'n',
    ]);
    expect(getPath({ a: { b: { c: 4 } } }, 'a.b.c')).toBe(4);
  });
});

describe('parseYamlConfig', () => {
  it('keeps the line of every key', () => {
    const parsed = parseYamlConfig('# comment\ndb:\n  pool:\n    size: 5\n  url.host: h\nlist:\n  - 1\n');
    expect(parsed.data).toEqual({ db: { pool: { size: 5 }, url: { host: 'h' } }, list: [1] });
    expect(Object.fromEntries(parsed.origins)).toEqual({
      'db.pool.size': { line: 4 },
      'db.url.host': { line: 5 },
      list: { line: 6 },
    });
  });

  it('reports duplicate keys and several documents with their line', () => {
    expect(() => parseYamlConfig('a: 1\na: 2\n')).toThrow(
      expect.objectContaining({ message: 'Map keys must be unique', data: { line: 2, column: 1 } }),
    );
    expect(() => parseYamlConfig('a: 1\n---\nb: 2\n')).toThrow(
      expect.objectContaining({ data: { line: 2, column: 1 } }),
    );
  });
});
