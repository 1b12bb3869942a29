/**
 * The byte-level chunk JSON → database transcoder (chunk-rows.ts transcodeChunkRow) against the
 * string path it stands for (JSON.parse, then chunkRowToCopyLine, chunkRowToValues, chunkRowToMysql
 * or chunkRowToTsvLine), byte for byte, in all four forms: PostgreSQL COPY text lines and INSERT …
 * VALUES tuples, MySQL/MariaDB INSERT tuples and LOAD DATA lines. Where the byte path declines
 * a row (-1), the string path is what the load writes, so declining is always safe; the tests
 * also pin that the rows json_encode writes for Moodle's values are never declined.
 */
import { describe, expect, it } from 'vitest';
import { BINARY_MARKER } from '../src/archive/binary-encoding.js';
import { phpJsonRow, phpJsonString } from '../src/archive/php-json.js';
import { openChunk } from '../src/archive/table-chunks.js';
import { chunkRowBound, chunkRowToCopyLine, chunkRowToMysql, chunkRowToTsvLine, chunkRowToValues, FORM_COPY, FORM_MYSQL, FORM_TSV, FORM_VALUES, mysqlString, ROW_BYTEA, ROW_SKIP, ROW_TEXT, transcodeChunkRow, tsvField, type RowForm } from '../src/db/chunk-rows.js';
import { MysqlInserts } from '../src/db/mysql.js';
import { TextRows } from '../src/db/text-rows.js';
import { prng } from './support/prng.js';

const FORMS: [string, RowForm][] = [['COPY', FORM_COPY], ['VALUES', FORM_VALUES], ['MySQL', FORM_MYSQL], ['LOAD DATA', FORM_TSV]];
const FORM_NAMES = ['COPY', 'VALUES', 'MySQL', 'LOAD DATA'];
const STRING_PATHS = [chunkRowToCopyLine, chunkRowToValues, chunkRowToMysql, chunkRowToTsvLine];

/** A chunk file of `rows` (each a JSON array's text or bytes) in the layout both writers use. */
function chunkOf(rows: (string | Buffer)[], header = '["a","b","c"]'): Buffer {
  return Buffer.concat([Buffer.from(`[\n${header}`), ...rows.flatMap((r) => [Buffer.from(',\n'), typeof r === 'string' ? Buffer.from(r) : r]), Buffer.from('\n]')]);
}

/** What the string path writes for row `i`, or the error it throws. */
function viaStrings(data: Buffer, i: number, slots: Uint8Array, form: RowForm, marked: boolean): string | Error {
  const chunk = openChunk(data);
  if (!chunk?.raw) throw new Error('not a one-array-per-line chunk');
  try {
    const row = chunk.raw.row(i);
    return (STRING_PATHS[form] ?? chunkRowToCopyLine)(row, slots, marked);
  } catch (err) {
    return err as Error;
  }
}

/** What the byte path writes for row `i` into a buffer of exactly the bound, or undefined when it declines. */
function viaBytes(data: Buffer, i: number, slots: Uint8Array, form: RowForm): string | undefined {
  const chunk = openChunk(data);
  const s = chunk?.raw?.spans[2 * i] ?? 0;
  const e = chunk?.raw?.spans[2 * i + 1] ?? 0;
  // Exactly the bound, so a write past it would be lost (typed arrays drop such writes) and show.
  const out = Buffer.alloc(chunkRowBound(e - s, slots.length));
  const n = transcodeChunkRow(data, s, e, slots, form, out, 0);
  return n < 0 ? undefined : out.toString('utf8', 0, n);
}

/** Byte path and string path agree on every row (the byte path may decline); returns how many it declined. */
function expectSame(rows: (string | Buffer)[], slots: Uint8Array, form: RowForm, marked = true, header?: string): number {
  const data = chunkOf(rows, header ?? `[${Array.from(slots, (_s, k) => `"c${k}"`).join(',')}]`);
  let declined = 0;
  rows.forEach((r, i) => {
    const want = viaStrings(data, i, slots, form, marked);
    const got = viaBytes(data, i, slots, form);
    if (got === undefined) declined++;
    else expect(got, `${String(r)} (${FORM_NAMES[form] ?? ''})`).toBe(want);
  });
  return declined;
}

const text = (n: number): Uint8Array => new Uint8Array(n).fill(ROW_TEXT);

describe.each(FORMS)('chunk JSON → database transcoder, %s', (_name, form) => {
  it('writes what the string path writes for the values json_encode writes, and declines none of them', () => {
    const values = ['1', 'siteidentifier', '', ' ', 'a\\b', 'line\nbreak\r\n', 'tab\there', 'quote " and \' apostrophe', "''", 'slash / and </script>',
      'é ü 日本 🦄 e\u0301', '\uffff \u{10ffff} \u{1f600}', '\u0001\u0008\u000b\u000c\u001f\u007f', '\\N', '\\.', 'ends with backslash\\', '1.50000', '-0', '1e-05'];
    const rows = [values.map(phpJsonString).join(','), ...values.map((v) => `[${phpJsonString(v)},null,${phpJsonString(v + v)}]`)].map((r, i) => (i ? r : `[${r}]`));
    const slots = text(values.length);
    expect(expectSame(rows.slice(0, 1), slots, form)).toBe(0);
    expect(expectSame(rows.slice(1), text(3), form)).toBe(0);
    // A row written by our own chunk writer.
    expect(expectSame([phpJsonRow(['42', null, 'x\ty', '', 'é'])], text(5), form)).toBe(0);
  });

  it('undoes every JSON escape: \\" \\\\ \\/ \\b \\f \\n \\r \\t, \\u of ASCII, BMP and surrogate pairs, upper- and lower-case hex', () => {
    const rows = ['["a\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti"]', '["\\u0041\\u00e9\\u00E9\\u65e5\\uD83E\\uDD84\\ud83e\\udd84\\uffff\\udbff\\udfff"]',
      '["\\u0009\\u000a\\u000d\\u005c\\u0022\\u002f\\u0027\\u0001\\u001f\\u007f"]', '["\\u005cN","\\u005c."]'];
    expect(expectSame(rows.slice(0, 3), text(1), form)).toBe(0);
    expect(expectSame(rows.slice(3), text(2), form)).toBe(0);
  });

  it('keeps null, empty strings and integers, and leaves numbers it cannot copy as they are to the string path', () => {
    expect(expectSame(['[null,"",0,-7,123456789012345,"0"]'], text(6), form)).toBe(0);
    // String(Number(x)) differs from the text (or may): -0, fractions, exponents, 16+ digits.
    for (const n of ['-0', '1.5', '0.1', '1e5', '2E-3', '1.0', '1234567890123456', '12345678901234567890', '-12345678901234567']) {
      expect(expectSame([`[${n}]`], text(1), form), n).toBe(1);
    }
    expect(expectSame(['[true,false]', '[[1,2],{"a":1}]'], text(2), form)).toBe(2);
  });

  it('loads raw UTF-8 (valid JSON from other writers) and leaves invalid UTF-8 and lone surrogates to the string path', () => {
    expect(expectSame([Buffer.from('["é日🦄 raw",null]')], text(2), form)).toBe(0);
    const invalid = [Buffer.from([0x5b, 0x22, 0x61, 0xff, 0x22, 0x5d]), Buffer.from([0x5b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]), Buffer.from([0x5b, 0x22, 0xc3, 0x22, 0x5d])];
    expect(expectSame(invalid, text(1), form)).toBe(3);
    expect(expectSame(['["\\ud800"]', '["\\udc00x"]', '["\\ud800\\u0041"]', '["x\\ud83e"]'], text(1), form)).toBe(4);
  });

  it('takes blanks around values, rows shorter (NULLs) and longer (ignored) than the header, and skipped columns', () => {
    expect(expectSame(['[ "a" , null ,1 ]', '[]', '["only"]', '["a","b","c","d"]'], text(3), form)).toBe(0);
    const slots = Uint8Array.from([ROW_SKIP, ROW_TEXT, ROW_SKIP, ROW_TEXT]);
    expect(expectSame(['["skip \\u00e9","keep","\\ud83e\\udd84",null]', '[1,2,3,4]', '[null,"x"]'], slots, form)).toBe(0);
  });

  it('writes bytea as hex of the string\'s UTF-8 bytes and leaves values that may be marked base64 to the string path', () => {
    const slots = Uint8Array.from([ROW_BYTEA, ROW_TEXT]);
    expect(expectSame(['["h\\u00e9","x"]', '["",null]', '[null,""]', '["\\ud83e\\udd84\\n\\\\",""]'], slots, form)).toBe(0);
    const marked = `[${phpJsonString(`${BINARY_MARKER}AAEC/w==`)},"x"]`;
    for (const m of [true, false]) expect(expectSame([marked, '["\\u0000not marked","y"]'], slots, form, m)).toBe(2);
    expect(expectSame(['[5,"x"]'], slots, form)).toBe(1);
  });

  it('declines rows that are not valid JSON, which the string path refuses', () => {
    const bad = ['["a",]', '["a" "b"]', '["a\\x"]', '["a\u0001"]', '["a\\u12"]', '[nul]', '["a"] ]', '[01]', '[-]', '[1 2]'];
    const data = chunkOf(bad, '["c0"]');
    bad.forEach((r, i) => {
      expect(viaBytes(data, i, text(1), form), r).toBeUndefined();
      expect(viaStrings(data, i, text(1), form, true), r).toBeInstanceOf(Error);
    });
  });

  it('writes what the string path writes for values with brackets, commas and escapes anywhere, and declines rows not closed before their `]`', () => {
    const values = [']', '[', ',', '],[', '"]', '\\]', 'a]b', ']]', '\\', '"', '/', '\n', '\u00e9]', '', 'x\u0001]'];
    const rows = values.flatMap((v) => [`[${phpJsonString(v)}]`, `[${phpJsonString(v)},${phpJsonString(v)}]`, `[null,${phpJsonString(v)}]`, `[${phpJsonString(v)},null]`]);
    const data = chunkOf(rows, '["c0","c1"]');
    rows.forEach((r, i) => {
      const want = viaStrings(data, i, text(2), form, true);
      const got = viaBytes(data, i, text(2), form);
      if (typeof want === 'string') expect(got, r).toBe(want);
      else expect(got, r).toBeUndefined();
    });
    // Not closed before the row's `]`, or cut short: declined, as the string path refuses them.
    const bad = ['["a]', '["a\\"]', '["a\\]', '[null]]', '[nul]', '["a",]', '["a"]]', '[,"a"]', '[]]', '[ "a]'];
    const badData = chunkOf(bad, '["c0"]');
    expect(openChunk(badData)?.count).toBe(bad.length);
    bad.forEach((r, i) => {
      expect(viaBytes(badData, i, text(1), form), r).toBeUndefined();
      expect(viaStrings(badData, i, text(1), form, true), r).toBeInstanceOf(Error);
    });
    // One value more or fewer than the slots: what the general path writes (NULLs added, extra values ignored).
    expect(expectSame(['["a"]', '["a","b","c"]', '[null,null,null]', '["a","b"]'], text(2), form)).toBe(0);
  });

  it('matches the string path on random rows', () => {
    const rnd = prng(11);
    const alphabet = ['a', 'Z', '0', ' ', '/', '"', "'", '\\', '\n', '\r', '\t', '\u0000', '\u0001', '\u007f', 'é', '€', '日', '🦄', '\u2028', '\ufeff', '\\N', '\ud800', '\udc00'];
    for (let n = 0; n < 3000; n++) {
      const cols = 1 + Math.floor(rnd() * 5);
      const slots = Uint8Array.from({ length: cols }, () => [ROW_TEXT, ROW_TEXT, ROW_TEXT, ROW_BYTEA, ROW_SKIP][Math.floor(rnd() * 5)] ?? ROW_TEXT);
      const values = Array.from({ length: cols }, () => {
        const r = rnd();
        if (r < 0.1) return 'null';
        if (r < 0.2) return String(Math.floor((rnd() - 0.5) * 1e6));
        const s = Array.from({ length: Math.floor(rnd() * 10) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
        // Escaped as json_encode does, or as JSON.stringify does (raw UTF-8, no \/).
        return rnd() < 0.7 ? phpJsonString(s) : JSON.stringify(s);
      });
      expectSame([`[${values.join(',')}]`], slots, form, rnd() < 0.5);
    }
  });
});

describe('INSERT … VALUES tuples', () => {
  it('quote every value as a standard-conforming string literal and refuse U+0000', () => {
    expect(chunkRowToValues(['1', null, "it's", 'a\\b', ''], text(5), true)).toBe("('1',NULL,'it''s','a\\b','')");
    expect(chunkRowToValues([Buffer.from('x').toString(), 'hé'], Uint8Array.from([ROW_BYTEA, ROW_BYTEA]), true)).toBe("('\\x78','\\x68c3a9')");
    expect(() => chunkRowToValues(['a\u0000b'], text(1), true)).toThrow('U+0000');
    const data = chunkOf(['["a\\u0000b"]'], '["c0"]');
    expect(viaBytes(data, 0, text(1), FORM_VALUES)).toBeUndefined();
    expect(viaBytes(data, 0, text(1), FORM_COPY)).toBe('a\u0000b\n');
  });
});

describe('MySQL INSERT tuples', () => {
  it('escape every value as a backslash-escaped string literal, binary as hex, and keep U+0000', () => {
    expect(mysqlString('a\u0000b\n\r\b\t\u001a\\\'"\u000c')).toBe("'a\\0b\\n\\r\\b\\t\\Z\\\\\\'\\\"\u000c'");
    expect(chunkRowToMysql(['1', null, "it's", ''], text(4), true)).toBe("('1',NULL,'it\\'s','')");
    expect(chunkRowToMysql(['hé', ''], Uint8Array.from([ROW_BYTEA, ROW_BYTEA]), true)).toBe("(X'68c3a9',X'')");
    const data = chunkOf(['["a\\u0000b","\\u001a"]'], '["c0","c1"]');
    expect(viaBytes(data, 0, text(2), FORM_MYSQL)).toBe("('a\\0b','\\Z')");
  });
});

describe('LOAD DATA lines', () => {
  it('escape backslash, tab, LF, CR and U+0000 (the statement\'s default format), binary as bare hex, null as \\N', () => {
    expect(tsvField('a\u0000b\n\r\t\\\b\u001a\'"\\N')).toBe('a\\0b\\n\\r\\t\\\\\b\u001a\'"\\\\N');
    expect(chunkRowToTsvLine(['1', null, "it's", ''], text(4), true)).toBe("1\t\\N\tit's\t\n");
    expect(chunkRowToTsvLine(['hé', ''], Uint8Array.from([ROW_BYTEA, ROW_BYTEA]), true)).toBe('68c3a9\t\n');
    const data = chunkOf(['["a\\u0000b","\\u001a\\\\N"]'], '["c0","c1"]');
    expect(viaBytes(data, 0, text(2), FORM_TSV)).toBe('a\\0b\t\u001a\\\\N\n');
  });
});

describe('MysqlInserts (INSERT statements of a table)', () => {
  it('fills statements up to the limit, a longer row alone, in row order, whatever the layouts of the chunk files', () => {
    const rows = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_x, k) => `["r${from + k}","${'x'.repeat(((from + k) * 37) % 300)}",null]`);
    const oneLine = (from: number, to: number): Buffer => Buffer.from(`[["a","b","c"],${rows(from, to).join(',')}]`);
    const lined = (from: number, to: number): Buffer => chunkOf(rows(from, to), '["a","b","c"]');
    const long = chunkOf([`["r121","${'y'.repeat(5000)}",null]`], '["a","b","c"]');
    const files = [lined(1, 40), oneLine(41, 60), lined(61, 120), long, lined(122, 130)];
    const head = Buffer.from('INSERT INTO t (a, b) VALUES ');
    const limit = 1024;
    const out = new MysqlInserts(head, limit, Uint8Array.of(ROW_TEXT, ROW_TEXT, ROW_SKIP), false);
    const statements: string[] = [];
    for (const f of files) {
      const chunk = openChunk(f);
      if (!chunk) throw new Error('not a chunk');
      out.addChunk(chunk);
      for (let sql = out.next(); sql !== undefined; sql = out.next()) statements.push(sql);
    }
    const last = out.end();
    if (last !== undefined) statements.push(last);
    expect(out.end()).toBeUndefined();
    const tuples: string[] = [];
    for (const [i, sql] of statements.entries()) {
      expect(sql.startsWith(head.toString())).toBe(true);
      const body = sql.slice(head.length);
      const these = body.slice(1, -1).split('),(').map((t) => `(${t})`);
      if (these.length > 1) expect(Buffer.byteLength(sql), `statement ${i}`).toBeLessThanOrEqual(limit);
      // Full: the next statement's first tuple would not have fitted.
      const next = statements[i + 1];
      if (next) expect(Buffer.byteLength(sql) + 1 + Buffer.byteLength(next.slice(head.length).split('),(')[0] ?? '') + 1).toBeGreaterThan(limit);
      tuples.push(...these);
    }
    const want = Array.from({ length: 130 }, (_x, k) => k + 1).map((n) => `('r${n}','${n === 121 ? 'y'.repeat(5000) : 'x'.repeat((n * 37) % 300)}')`);
    expect(tuples).toEqual(want);
    expect(out.rows).toBe(130);
    expect(statements.some((sql) => sql.length > limit && !sql.includes('),('))).toBe(true);
  });
});

describe.each([['COPY', FORM_COPY], ['LOAD DATA', FORM_TSV]] as const)('TextRows (%s pieces of a table)', (_name, form) => {
  it('never writes into a piece it has handed out, whatever the layouts of the chunk files', () => {
    // Decoded rows (a file laid out on one line) and rows transcoded in place alternate; every
    // message handed out is kept, as the socket keeps a buffer it has not written yet.
    const rows = (from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_x, k) => `["r${from + k}${'x'.repeat((from + k) % 40)}"]`);
    const oneLine = (from: number, to: number): Buffer => Buffer.from(`[["a"],${rows(from, to).join(',')}]`);
    const lined = (from: number, to: number): Buffer => chunkOf(rows(from, to), '["a"]');
    const files = [oneLine(1, 39), lined(40, 60), oneLine(61, 80), oneLine(81, 81), lined(82, 90), oneLine(91, 120)];
    const out = new TextRows(Uint8Array.of(ROW_TEXT), false, form);
    const sent: Buffer[] = [];
    for (const f of files) {
      const chunk = openChunk(f);
      if (!chunk) throw new Error('not a chunk');
      out.addChunk(chunk);
      sent.push(...out.ready.splice(0));
    }
    out.end();
    sent.push(...out.ready.splice(0));
    const want = Array.from({ length: 120 }, (_x, k) => `r${k + 1}${'x'.repeat((k + 1) % 40)}\n`).join('');
    expect(Buffer.concat(sent).toString()).toBe(want);
    expect(out.rows).toBe(120);
  });
});
