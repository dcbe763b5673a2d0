import { describe, expect, it } from 'vitest';
import {
  isTransactionControl,
  lineAt,
  positionToIndex,
  splitStatements,
  statementAt,
} from './sql-statements.js';

const texts = (sql: string) => splitStatements(sql).map((s) => s.text);

describe('splitStatements', () => {
  it('splits on semicolons and skips comments and empty statements', () => {
    const sql = '-- setup\ncreate table a (id int);;\n/* two */ insert into a values (1);\nselect 1';
    expect(texts(sql)).toEqual(['create table a (id int);', 'insert into a values (1);', 'select 1']);
  });

  it('keeps semicolons inside strings, quoted names, dollar quotes and nested comments', () => {
    const sql = [
      "insert into t values ('a;b', E'c\\';d', \"x;y\");",
      'create function f() returns int language plpgsql as $body$ begin return 1; end $body$;',
      'do $$ begin perform 1; end $$;',
      '/* outer /* inner; */ still; */ select $1;',
    ].join('\n');
    expect(texts(sql)).toHaveLength(4);
    expect(texts(sql)[3]).toBe('select $1;');
  });

  it('keeps a BEGIN ATOMIC function body in one statement, as psql does', () => {
    const sql =
      'create function g() returns int language sql begin atomic select 1; select case when true then 2 end; end;\nselect 3;';
    expect(texts(sql)).toEqual([sql.split('\n')[0], 'select 3;']);
  });
});

describe('locating a statement', () => {
  it('maps a server character position to the statement and line containing it', () => {
    const sql = 'create table ü (id int);\n\ninsert into nope values (1);\n';
    const index = positionToIndex(sql, sql.indexOf('nope') + 1);
    expect(statementAt(splitStatements(sql), index)?.text).toBe('insert into nope values (1);');
    expect(lineAt(sql, index)).toBe(3);
  });

  it('counts characters outside the basic plane as one, like the server does', () => {
    const sql = "select '😀'; select nope;";
    const serverPosition = [...sql].indexOf('n') + 1;
    expect(sql.slice(positionToIndex(sql, serverPosition))).toBe('nope;');
  });
});

describe('isTransactionControl', () => {
  it('flags statements that would end the migration transaction, not savepoint rollbacks', () => {
    const flags = splitStatements(
      'begin; commit; end; rollback; rollback to savepoint s; start transaction;',
    ).map(isTransactionControl);
    expect(flags).toEqual([true, true, true, true, false, true]);
  });
});
