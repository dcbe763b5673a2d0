/**
 * Splits SQL text into statements the way psql does: semicolons end a statement unless they
 * sit in a string, quoted identifier, dollar-quoted body, comment, parentheses or a
 * `BEGIN ATOMIC ... END` function body. Used to name the statement a migration failed in and
 * to spot transaction control; the SQL itself is always sent to the server unchanged.
 */

/** One statement of a SQL text; offsets are UTF-16 indexes into that text. */
export interface SqlStatement {
  /** Statement text from its first token through its semicolon (if any). */
  text: string;
  /** Index of the statement's first token. */
  start: number;
  /** Index just past the statement's semicolon, or the end of the text. */
  end: number;
  /** First two words, lower-cased (e.g. `['create', 'table']`). */
  words: string[];
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** Index just past a quoted run opened at `i` by `quote`; doubled quotes escape it. */
function skipQuoted(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j];
    if (backslashEscapes && c === '\\') {
      j += 2;
    } else if (c === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return sql.length;
}

/** Index just past a (nestable) block comment opened at `i`. */
function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql.startsWith('/*', j)) {
      depth++;
      j += 2;
    } else if (sql.startsWith('*/', j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return sql.length;
}

/** Splits `sql` into its non-empty statements. */
export function splitStatements(sql: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  let start = -1;
  let words: string[] = [];
  let identifiers = 0;
  let parenDepth = 0;
  let beginDepth = 0;
  const finish = (end: number) => {
    if (start >= 0) out.push({ text: sql.slice(start, end).trimEnd(), start, end, words });
    start = -1;
    words = [];
    identifiers = 0;
    parenDepth = 0;
    beginDepth = 0;
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (sql.startsWith('--', i)) {
      const eol = sql.indexOf('\n', i);
      i = eol < 0 ? sql.length : eol + 1;
      continue;
    }
    if (sql.startsWith('/*', i)) {
      i = skipBlockComment(sql, i);
      continue;
    }
    if (c === ';' && start < 0) {
      i++; // an empty statement; the server ignores it too
      continue;
    }
    if (start < 0) start = i;
    if (c === ';') {
      if (parenDepth === 0 && beginDepth === 0) finish(i + 1);
      i++;
    } else if (c === "'") {
      const escaped = i > 0 && /[eE]/.test(sql[i - 1] as string) && !IDENT_CHAR.test(sql[i - 2] ?? ' ');
      i = skipQuoted(sql, i, "'", escaped);
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (c === '$' && !IDENT_CHAR.test(sql[i - 1] ?? ' ')) {
      const tag = DOLLAR_TAG.exec(sql.slice(i, i + 64))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? sql.length : close + tag.length;
      } else {
        i++;
      }
    } else if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < sql.length && IDENT_CHAR.test(sql[j] as string)) j++;
      const word = sql.slice(i, j).toLowerCase();
      identifiers++;
      if (words.length < 2) words.push(word);
      // psql's rule: BEGIN (other than as the first word) or CASE opens a block that END closes.
      if ((word === 'begin' || word === 'case') && identifiers > 1) beginDepth++;
      else if (word === 'end' && beginDepth > 0) beginDepth--;
      i = j;
    } else {
      if (c === '(') parenDepth++;
      else if (c === ')' && parenDepth > 0) parenDepth--;
      i++;
    }
  }
  finish(sql.length);
  return out;
}

/** The statement containing UTF-16 index `offset`, or the last one starting before it. */
export function statementAt(statements: SqlStatement[], offset: number): SqlStatement | undefined {
  let found: SqlStatement | undefined;
  for (const statement of statements) {
    if (statement.start > offset) break;
    found = statement;
  }
  return found;
}

/** Converts PostgreSQL's 1-based character position to a 0-based UTF-16 index into `sql`. */
export function positionToIndex(sql: string, position: number): number {
  let chars = 0;
  let i = 0;
  while (i < sql.length && chars < position - 1) {
    const code = sql.codePointAt(i) ?? 0;
    i += code > 0xffff ? 2 : 1;
    chars++;
  }
  return i;
}

/** 1-based line number of UTF-16 index `offset` in `text`. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text[i] === '\n') line++;
  return line;
}

const TRANSACTION_CONTROL = new Set(['begin', 'start', 'commit', 'end', 'abort', 'rollback']);

/** True for BEGIN/START/COMMIT/END/ABORT/ROLLBACK (but not ROLLBACK TO SAVEPOINT). */
export function isTransactionControl(statement: SqlStatement): boolean {
  const [first, second] = statement.words;
  if (first === undefined || !TRANSACTION_CONTROL.has(first)) return false;
  if (first === 'rollback' && second === 'to') return false;
  if (first === 'rollback' && second === 'prepared') return false;
  if (first === 'commit' && second === 'prepared') return false;
  return true;
}
