// One meaning for every expression: random well-typed expressions over random typed values are
// evaluated by both compilations of the expression language, the JavaScript closure (expr.ts:
// forms, worklist, explanations) and the SQL (expr-sql.ts: indicators, analyses), in a real
// PostgreSQL, and must give the same value for every row: the same truth value under three-valued
// logic (unknown included), the same number, text, date or instant.
//
// The values are what the analytics table holds, and each row is evaluated in JavaScript twice:
// as capture hands the values over (date-times with any zone offset) and as the database gives the
// row back (row_to_json, which is what the explanation list evaluates). The session's time zone
// is set far from Norway, so nothing may depend on it.
//
// CI runs a fixed seed and KVALREG_PROPERTY_RUNS cases (default 1,000); a longer run:
//   KVALREG_PROPERTY_RUNS=50000 npx vitest run test/expr-differential.test.ts
// (its result is recorded in docs/registry-definitions.md). KVALREG_PROPERTY_SEED picks another seed.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileExpression } from '../src/registry/expr.ts';
import { compileToSqlTyped } from '../src/registry/expr-sql.ts';
import type { VariableType } from '../src/registry/schema.ts';
import { newDatabase } from './helpers/platform.ts';

const RUNS = Number(process.env.KVALREG_PROPERTY_RUNS ?? 1000);
const SEED = Number(process.env.KVALREG_PROPERTY_SEED ?? 20240611);

// ---- the table: two columns of every codebook type ----------------------------------------------

const COLUMNS: Array<[string, VariableType]> = [
  ['t1', 'text'],
  ['t2', 'text'],
  ['c1', 'code'],
  ['i1', 'integer'],
  ['i2', 'integer'],
  ['n1', 'decimal'],
  ['n2', 'decimal'],
  ['b1', 'boolean'],
  ['b2', 'boolean'],
  ['d1', 'date'],
  ['d2', 'date'],
  ['dt1', 'datetime'],
  ['dt2', 'datetime'],
];
const PG_TYPE: Record<VariableType, string> = {
  text: 'text',
  code: 'text',
  integer: 'integer',
  decimal: 'double precision',
  boolean: 'boolean',
  date: 'date',
  datetime: 'timestamptz',
};
const types = new Map(COLUMNS);
type T = 'boolean' | 'number' | 'text' | 'date' | 'datetime';
const columnsOf = (t: T) =>
  COLUMNS.filter(
    ([, ct]) =>
      (
        ({
          text: 'text',
          code: 'text',
          integer: 'number',
          decimal: 'number',
          boolean: 'boolean',
          date: 'date',
          datetime: 'datetime',
        }) as const
      )[ct] === t,
  ).map(([n]) => n);

// ---- values ----------------------------------------------------------------------------------------

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
// Dates from 1980 to 2040, with the days around Norway's clock changes over-represented.
const dateArb = fc.oneof(
  fc
    .integer({ min: Date.UTC(1980, 0, 1) / 86_400_000, max: Date.UTC(2040, 11, 31) / 86_400_000 })
    .map((d) => new Date(d * 86_400_000).toISOString().slice(0, 10)),
  fc.constantFrom(
    '2024-03-30',
    '2024-03-31',
    '2024-04-01',
    '2024-10-26',
    '2024-10-27',
    '2024-10-28',
    '2000-02-29',
    '2001-02-28',
    '2023-12-31',
    '2024-01-01',
    '2024-02-29',
  ),
);
const OFFSETS = ['Z', '+00:00', '+01:00', '+02:00', '-05:00', '+05:30', '-11:00'];
const instantArb = fc.oneof(
  fc.integer({ min: Date.UTC(1980, 0, 1), max: Date.UTC(2040, 11, 31) }),
  // Close to midnight in Norway and to the clock changes (2024-03-31 01:00Z, 2024-10-27 01:00Z).
  fc
    .tuple(
      fc.constantFrom(
        Date.UTC(2024, 2, 30, 23),
        Date.UTC(2024, 2, 31, 1),
        Date.UTC(2024, 9, 26, 22),
        Date.UTC(2024, 9, 27, 1),
        Date.UTC(2023, 11, 31, 23),
      ),
      fc.integer({ min: -7_200_000, max: 7_200_000 }),
    )
    .map(([t, d]) => t + d),
);
/** An instant written with a zone offset, millisecond precision sometimes. */
const datetimeArb = fc.tuple(instantArb, fc.constantFrom(...OFFSETS), fc.boolean()).map(([t, off, ms]) => {
  const shift = off === 'Z' ? 0 : (off[0] === '-' ? -1 : 1) * (Number(off.slice(1, 3)) * 60 + Number(off.slice(4, 6))) * 60_000;
  const local = new Date((ms ? t : Math.floor(t / 1000) * 1000) + shift).toISOString();
  return `${ms ? local.slice(0, 23) : local.slice(0, 19)}${off}`;
});
const CHARS = [
  'a',
  'b',
  'B',
  'Z',
  'z',
  ' ',
  '-',
  '.',
  '0',
  '1',
  '3',
  'æ',
  'Ø',
  'å',
  'é',
  'ß',
  '\u00A0',
  '\uFFFD',
  '\uFB01',
  '😀',
  '𝄞',
  'Ω',
  '中',
];
const wordArb = fc.array(fc.constantFrom(...CHARS), { maxLength: 5 }).map((cs) => cs.join(''));
const textArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      'a',
      'abc',
      'ab',
      'B',
      'b',
      '3',
      '03',
      '3.0',
      '3.5',
      '-2',
      '+4',
      '.5',
      '1e3',
      ' 3',
      '0x10',
      '2024-01-01',
      'emergency',
      'Æ',
      'æ',
      '😀',
      'ﬁ',
    ),
  },
  { weight: 2, arbitrary: wordArb },
);
const integerArb = fc.oneof(fc.integer({ min: -30, max: 30 }), fc.integer({ min: -1_000_000, max: 1_000_000 }));
// Six decimals at most, within a million: products and quotients of a few of them stay far from
// the limits of a double (where SQL raises an error and JavaScript gives infinity or 0).
const decimalArb = fc.oneof(
  fc.constantFrom(0, -0, 0.1, 0.2, 0.3, 2.5, -2.5, 3, 0.000001, 123456.789, 24, 14, 10),
  fc.integer({ min: -1e12, max: 1e12 }).map((n) => n / 1e6),
);
const valueArb = (t: VariableType): fc.Arbitrary<unknown> => {
  const v = {
    text: textArb,
    code: textArb,
    integer: integerArb,
    decimal: decimalArb,
    boolean: fc.boolean(),
    date: dateArb,
    datetime: datetimeArb,
  }[t] as fc.Arbitrary<unknown>;
  return fc.option(v, { freq: 5, nil: null });
};
const rowArb = fc.record(Object.fromEntries(COLUMNS.map(([n, t]) => [n, valueArb(t)])) as Record<string, fc.Arbitrary<unknown>>);

// ---- expressions ----------------------------------------------------------------------------------

const str = (s: string) => `'${s}'`;
/** Literal text without quotes or backslashes (the language has no escapes worth testing here). */
const textLiteral = fc
  .oneof(fc.constantFrom('a', 'abc', 'B', '3', '03', '3.0', '-2', 'x y', 'æ', '😀', '2024-01-01', 'emergency', ''), wordArb)
  .map(str);
const numberLiteral = fc
  .oneof(fc.integer({ min: 0, max: 40 }).map(String), fc.constantFrom('0.1', '0.2', '0.3', '2.5', '14', '24', '1000000', '0.001'))
  .chain((s) => fc.constantFrom(s, `-${s}`));
const numericTextLiteral = fc.constantFrom('3', '03', '3.0', '-2', '0.5', '24').map(str);
const dateLiteral = dateArb.map(str);
const datetimeLiteral = datetimeArb.map(str);
const LEAF_WEIGHT = 3;

const built = new Map<string, fc.Arbitrary<string>>();
/** Expressions of type t, nested at most `depth` deep (built once per type and depth). */
function expr(t: T, depth: number): fc.Arbitrary<string> {
  const key = `${t}:${depth}`;
  if (!built.has(key)) built.set(key, build(t, depth));
  return built.get(key)!;
}
function build(t: T, depth: number): fc.Arbitrary<string> {
  const leaves: Array<fc.Arbitrary<string>> = [fc.constantFrom(...columnsOf(t))];
  switch (t) {
    case 'boolean':
      leaves.push(fc.constantFrom('true', 'false', 'null'));
      break;
    case 'number':
      leaves.push(numberLiteral, fc.constant('null'));
      break;
    case 'text':
      leaves.push(textLiteral);
      break;
    case 'date':
      leaves.push(dateLiteral, fc.constant('today()'));
      break;
    case 'datetime':
      leaves.push(datetimeLiteral);
      break;
  }
  if (depth <= 0) return fc.oneof(...leaves);
  const sub = (u: T) => expr(u, depth - 1);
  const pick = <A>(...xs: A[]) => fc.constantFrom(...xs);
  const common: Array<fc.Arbitrary<string>> = [
    fc.tuple(sub('boolean'), sub(t), sub(t)).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
    fc.tuple(sub(t), sub(t)).map(([a, b]) => `coalesce(${a}, ${b})`),
  ];
  const own: Array<fc.Arbitrary<string>> = [];
  switch (t) {
    case 'boolean': {
      // Pairs that may be compared: same type, text with number, date with date-time.
      const pair = fc.oneof(
        fc.tuple(sub('number'), sub('number')),
        fc.tuple(sub('text'), sub('text')),
        fc.tuple(sub('boolean'), sub('boolean')),
        fc.tuple(sub('text'), sub('number')),
        fc.tuple(sub('number'), sub('text')),
        fc.tuple(sub('date'), sub('date')),
        fc.tuple(sub('date'), sub('datetime')),
        fc.tuple(sub('datetime'), sub('date')),
        fc.tuple(sub('datetime'), sub('datetime')),
        // string literals that take the type of what they meet
        fc.tuple(sub('number'), numericTextLiteral),
        fc.tuple(sub('date'), fc.oneof(dateLiteral, datetimeLiteral)),
        fc.tuple(fc.oneof(dateLiteral, datetimeLiteral), sub('datetime')),
      );
      const anyValue = fc.oneof(...(['number', 'text', 'boolean', 'date', 'datetime'] as T[]).map(sub));
      own.push(
        fc.tuple(pair, pick('==', '!=', '===', '!==', '<', '<=', '>', '>=')).map(([[a, b], op]) => `(${a} ${op} ${b})`),
        fc.tuple(sub('boolean'), sub('boolean'), pick('&&', '||', 'and', 'or')).map(([a, b, op]) => `(${a} ${op} ${b})`),
        fc.tuple(sub('boolean'), pick('!', 'not ')).map(([a, op]) => `${op}(${a})`),
        fc.tuple(anyValue, pick('==', '!=')).map(([a, op]) => (op === '==' ? `(${a} == null)` : `(null != ${a})`)),
        fc.tuple(anyValue, pick('present', 'missing')).map(([a, f]) => `${f}(${a})`),
        fc.tuple(sub('text'), sub('text')).map(([a, b]) => `startsWith(${a}, ${b})`),
        // in: numbers against texts and texts against numbers, nulls, empty lists
        fc
          .tuple(
            fc.oneof(sub('text'), sub('number')),
            fc.array(
              fc.oneof(
                textLiteral,
                numberLiteral,
                numericTextLiteral,
                fc.constant('null'),
                fc.constantFrom(...columnsOf('number'), ...columnsOf('text')),
              ),
              { maxLength: 4 },
            ),
          )
          .map(([a, items]) => `(${a} in [${items.join(', ')}])`),
        fc
          .tuple(
            fc.oneof(sub('datetime'), sub('date')),
            fc.array(fc.oneof(datetimeLiteral, dateLiteral, fc.constantFrom(...columnsOf('date'), ...columnsOf('datetime'))), {
              maxLength: 3,
            }),
          )
          .map(([a, items]) => `(${a} in [${items.join(', ')}])`),
      );
      break;
    }
    case 'number':
      own.push(
        fc.tuple(sub('number'), sub('number'), pick('+', '-', '*', '/')).map(([a, b, op]) => `(${a} ${op} ${b})`),
        sub('number').map((a) => `-(${a})`),
        fc
          .tuple(fc.oneof(sub('date'), sub('datetime')), fc.oneof(sub('date'), sub('datetime')), pick('days', 'hours', 'years'))
          .map(([a, b, f]) => `${f}(${a}, ${b})`),
        fc.tuple(fc.oneof(sub('date'), sub('datetime')), pick('year', 'month')).map(([a, f]) => `${f}(${a})`),
        sub('text').map((a) => `length(${a})`),
      );
      break;
    case 'date':
      own.push(fc.oneof(sub('date'), sub('datetime')).map((a) => `date(${a})`));
      break;
  }
  return fc.oneof(
    { weight: LEAF_WEIGHT, arbitrary: fc.oneof(...leaves) },
    ...[...own, ...common].map((a) => ({ weight: 1, arbitrary: a })),
  );
}

const caseArb = fc
  .constantFrom<T>('boolean', 'boolean', 'boolean', 'number', 'text', 'date', 'datetime')
  .chain((t) =>
    fc.record({ type: fc.constant(t), source: expr(t, 4), rows: fc.array(rowArb, { minLength: 1, maxLength: 6 }), asOf: dateArb }),
  );

// ---- running both ---------------------------------------------------------------------------------

let client: pg.Client;
beforeAll(async () => {
  client = new pg.Client({ connectionString: await newDatabase() });
  await client.connect();
  // Far from Norway, so that no result may depend on the session's zone.
  await client.query("SET TIME ZONE 'America/Los_Angeles'");
});
afterAll(async () => {
  await client?.end();
});

/** A value as both sides can be compared: unknown (null or ''), a number, text, a date, an instant. */
function canonical(t: T, v: unknown): unknown {
  if (v === null || v === undefined || v === '') return null;
  switch (t) {
    case 'number':
      return typeof v === 'number' ? (Object.is(v, -0) ? 0 : v) : `not a number: ${JSON.stringify(v)}`;
    case 'datetime':
      return Date.parse(String(v));
    case 'date':
      return String(v);
    default:
      return v;
  }
}

/** What the random cases covered, printed after the run (how many rows gave a known value, per type). */
const covered = new Map<string, { rows: number; known: number }>();
let longest = 0;

async function bothAgree(c: { type: T; source: string; rows: Array<Record<string, unknown>>; asOf: string }): Promise<void> {
  const values: unknown[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length + 2}`;
  };
  const compiled = compileToSqlTyped(c.source, { columns: types, alias: 'a', param, asOf: '$2' });
  const js = compileExpression(c.source, { variables: new Set(types.keys()), types });
  const rows = c.rows.map((r, i) => ({ id: i, ...r }));
  const res = await client.query(
    `SELECT a.id, row_to_json(a) AS row, to_jsonb(${compiled.sql}) AS v, $2::date AS as_of
     FROM jsonb_to_recordset($1::jsonb) AS a(id integer, ${COLUMNS.map(([n, t]) => `"${n}" ${PG_TYPE[t]}`).join(', ')}) ORDER BY a.id`,
    [JSON.stringify(rows), c.asOf, ...values],
  );
  for (const r of res.rows) {
    const sql = canonical(c.type, r.v);
    const fromCapture = canonical(c.type, js(rows[r.id], { asOf: c.asOf }));
    const fromDatabase = canonical(c.type, js(r.row, { asOf: c.asOf }));
    const where = `${c.source}\n  row ${JSON.stringify(rows[r.id])}\n  SQL ${compiled.sql}`;
    const k = covered.get(c.type) ?? { rows: 0, known: 0 };
    k.rows++;
    if (sql !== null) k.known++;
    covered.set(c.type, k);
    expect(fromCapture, `JavaScript (values as captured) vs SQL for ${where}`).toEqual(sql);
    expect(fromDatabase, `JavaScript (row from the database) vs SQL for ${where}`).toEqual(sql);
  }
}

describe('the expression language has one meaning in JavaScript and in SQL', () => {
  it(
    `agrees on ${RUNS} random expressions over random values (seed ${SEED})`,
    async () => {
      covered.clear();
      await fc.assert(
        fc.asyncProperty(caseArb, async (c) => {
          longest = Math.max(longest, c.source.length);
          await bothAgree(c);
        }),
        { numRuns: RUNS, seed: SEED },
      );
      const summary = [...covered].map(([t, k]) => `${t}: ${k.rows} rows, ${k.known} known`).join('; ');
      console.log(`expression differential: ${RUNS} cases, seed ${SEED}, all agree (${summary}; longest expression ${longest} characters)`);
    },
    Math.max(120_000, RUNS * 60),
  );

  // The disagreements the property test found, kept as examples that say what the rule is.
  const row = (r: Record<string, unknown>) => ({ ...Object.fromEntries(COLUMNS.map(([n]) => [n, null])), ...r });
  const agree = (source: string, type: T, rows: Array<Record<string, unknown>>, asOf = '2024-06-01') =>
    bothAgree({ source, type, rows: rows.map(row), asOf });
  it('hours() from a date counts from midnight in Norway, in both', async () => {
    await agree('hours(d1, dt1)', 'number', [
      { d1: '2024-03-01', dt1: '2024-03-01T01:00:00+01:00' },
      { d1: '2024-07-01', dt1: '2024-07-01T00:00:00Z' },
    ]);
    expect(
      compileExpression('hours(d1, dt1)', { variables: new Set(types.keys()), types })({ d1: '2024-07-01', dt1: '2024-07-01T00:00:00Z' }),
    ).toBe(2);
  });
  it('the empty string is unknown, in both', async () => {
    await agree("t1 == ''", 'boolean', [{ t1: '' }, { t1: 'a' }, { t1: null }]);
    await agree("coalesce(t1, 'x')", 'text', [{ t1: '' }]);
    expect(compileExpression("coalesce(t1, 'x')", { variables: new Set(['t1']) })({ t1: '' })).toBe('x');
  });
  it('a number and a text compare as numbers when the text is a number, in both', async () => {
    await agree('c1 in [3, 4]', 'boolean', [{ c1: '3' }, { c1: '03' }, { c1: 'x' }, { c1: null }]);
    await agree("i1 in ['3', '4']", 'boolean', [{ i1: 3 }, { i1: 5 }]);
    await agree('c1 == 3', 'boolean', [{ c1: '3.0' }]);
    expect(compileExpression('c1 in [3, 4]', { variables: new Set(['c1']), types })({ c1: '3' })).toBe(true);
  });
  it('text is ordered by code point whatever the database locale, and numbers are doubles, in both', async () => {
    await agree("t1 < 'b'", 'boolean', [{ t1: 'B' }, { t1: 'a' }, { t1: 'æ' }, { t1: '😀' }, { t1: '\uFFFD' }]);
    await agree('n1 + n2 == 0.3', 'boolean', [{ n1: 0.1, n2: 0.2 }]);
  });
  it('today() is the as-of date in both', async () => {
    await agree('days(d1, today())', 'number', [{ d1: '2024-01-01' }], '2024-06-01');
    expect(compileExpression('days(d1, today())', { variables: new Set(['d1']) })({ d1: '2024-01-01' }, { asOf: '2024-06-01' })).toBe(152);
  });
  it('refuses at load time what has no meaning', () => {
    const sql = (s: string) => compileToSqlTyped(s, { columns: types, alias: 'a', param: () => '$3', asOf: '$2' });
    const js = (s: string) => compileExpression(s, { variables: new Set(types.keys()), types });
    for (const bad of ['d1 == 3', "d1 < 'soon'", 't1 + 1', '!t1', "d1 in ['x']", "b1 ? 1 : 'x'", 'days(t1, d1)', 'b1 == 1']) {
      expect(() => sql(bad), bad).toThrow();
      expect(() => js(bad), bad).toThrow();
    }
  });
});
