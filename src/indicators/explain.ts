// Why a unit's result is what it is: the cases in an indicator's denominator for one unit and
// period, and for each whether it is in the numerator, clause by clause, with the values that
// decided it. Person-level: only for users whose access covers the unit, and audited per person.
import type jsep from 'jsep';
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { compileExpression, parseExpression } from '../registry/expr.ts';
import { compileToSql } from '../registry/expr-sql.ts';
import type { Registry } from '../registry/load.ts';
import { columnTypes, type Indicator } from './load.ts';
import type { Grain } from './schema.ts';
import { renderExpression, type Lang } from './text.ts';
import { KvalregError } from '../errors.ts';

/**
 * One term of a definition for one case: whether it holds and the values it read. `of` says whose
 * term it is: the numerator's terms are always listed; a denominator's term only when it read an
 * unknown value, so a case counted although something it was judged on is unknown says so.
 */
export interface Clause {
  text: string;
  holds: boolean | null;
  values: Record<string, unknown>;
  of: 'denominator' | 'numerator';
}
export interface ExplainedCase {
  caseId: number;
  unit: string | null;
  periodDate: string;
  finalised: boolean;
  inNumerator: boolean;
  /** What the case adds to the numerator when the indicator counts events (numeratorCount), e.g. its unplanned reoperations. */
  parts: Array<{ label: string | null; inDenominator: boolean; inNumerator: boolean; count?: number; clauses: Clause[] }>;
}

const READERS = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'] as const;

export async function explainIndicator(
  tx: PersonTx,
  registry: Registry,
  ind: Indicator,
  q: { unit: string; grain: Grain; period: string; dataset: 'fresh' | 'qa'; lang: Lang; asOf: string; limit: number; offset: number },
): Promise<{ total: number; cases: ExplainedCase[] }> {
  if (ind.def.status !== 'active')
    throw new KvalregError(
      'conflict',
      `Indicator ${ind.def.id} is declared but its definition is pending; there is nothing to explain yet.`,
    );
  tx.requireUnit(registry.id, q.unit, [...READERS], { object: `${registry.id}/indicators/${ind.def.id}`, personId: null });
  const range = periodRange(q.grain, q.period);
  const values: unknown[] = [q.asOf, q.unit, range.from, range.to];
  const param = (v: unknown) => {
    values.push(v);
    return `$${values.length}`;
  };
  const types = columnTypes(registry);
  const sql = (s: string) => compileToSql(s, { columns: types, alias: 'a', param, asOf: '$1::date' });
  const d =
    types.get(ind.def.periodDate) === 'datetime'
      ? `(a."${ind.def.periodDate}" AT TIME ZONE 'Europe/Oslo')::date`
      : `a."${ind.def.periodDate}"`;
  const where = [
    `a.unit_path @> ARRAY[$2::text]`,
    `${d} >= $3::date`,
    `${d} < $4::date`,
    `$1::date IS NOT NULL`,
    `(${ind.parts.map((p) => `(${sql(p.denominator)}) IS TRUE`).join(' OR ')})`,
  ];
  if (ind.def.population) where.push(`(${sql(ind.def.population)}) IS TRUE`);
  if (ind.def.exclusions) where.push(`(${sql(ind.def.exclusions)}) IS NOT TRUE`);
  if (q.dataset === 'qa') where.push('a.finalised');
  const from = `FROM ${analyticsTable(registry)} a WHERE ${where.join(' AND ')}`;
  const total = Number((await tx.client.query(`SELECT count(*) ${from}`, values)).rows[0].count);
  const { rows } = await tx.client.query(
    `SELECT row_to_json(a) AS row ${from} ORDER BY ${d}, a.case_id LIMIT ${Number(q.limit)} OFFSET ${Number(q.offset)}`,
    values,
  );
  const cases = rows.map(({ row }) => explainRow(registry, ind, row, q.lang, String(row[ind.def.periodDate]).slice(0, 10), q.asOf));
  tx.audit({
    action: 'indicator:explain',
    registry: registry.id,
    object: `${registry.id}/indicators/${ind.def.id}/${q.grain}/${q.period}`,
    unit: q.unit,
    personIds: rows.map(({ row }) => Number(row.person_id)),
  });
  return { total, cases };
}

function explainRow(
  registry: Registry,
  ind: Indicator,
  row: Record<string, unknown>,
  lang: Lang,
  periodDate: string,
  asOf: string,
): ExplainedCase {
  const ctx = { asOf };
  const parts = ind.parts.map((p, i) => {
    const inDenominator = ind.js.parts[i].denominator(row, ctx) === true;
    const inNumerator = inDenominator && ind.js.parts[i].numerator(row, ctx) === true;
    const counted = ind.js.numeratorCount ? ind.js.numeratorCount(row, ctx) : undefined;
    const count = counted === undefined ? {} : { count: inNumerator && typeof counted === 'number' ? Math.round(counted) : 0 };
    const listed = inDenominator
      ? [
          ...clauses(registry, p.denominator, row, lang, asOf, 'denominator').filter((c) =>
            Object.values(c.values).some((v) => v === null),
          ),
          ...clauses(registry, p.numerator, row, lang, asOf, 'numerator'),
        ]
      : [];
    return { label: p.label?.[lang] ?? null, inDenominator, inNumerator, ...count, clauses: listed };
  });
  return {
    caseId: Number(row.case_id),
    unit: (row.unit_resh as string) ?? null,
    periodDate,
    finalised: row.finalised === true,
    inNumerator: parts.some((p) => p.inNumerator),
    parts,
  };
}

/** The numerator split into the terms of its top-level "and" (or "or"), each part with its truth and the values it read. */
function clauses(registry: Registry, source: string, row: Record<string, unknown>, lang: Lang, asOf: string, of: Clause['of']): Clause[] {
  const names = new Set(Object.keys(row));
  const types = columnTypes(registry);
  const top = parseExpression(source);
  const family = (n: jsep.Expression) =>
    n.type !== 'BinaryExpression'
      ? null
      : ['&&', 'and'].includes((n as jsep.BinaryExpression).operator)
        ? 'and'
        : ['||', 'or'].includes((n as jsep.BinaryExpression).operator)
          ? 'or'
          : null;
  const op = family(top);
  const split = (n: jsep.Expression): jsep.Expression[] => {
    if (op && family(n) === op) {
      const b = n as jsep.BinaryExpression;
      return [...split(b.left), ...split(b.right)];
    }
    return [n];
  };
  return split(top)
    .map(print)
    .map((s) => {
      const holds = compileExpression(s, { variables: names, types })(row, { asOf });
      const used = [...new Set(identifiers(parseExpression(s)))].filter((v) => names.has(v));
      return {
        text: renderExpression(s, registry, lang),
        holds: holds === null || holds === undefined ? null : holds === true,
        values: Object.fromEntries(used.map((v) => [v, row[v] ?? null])),
        of,
      };
    });
}

/** An expression tree back as expression text (fully parenthesised where it matters). */
function print(n: jsep.Expression): string {
  switch (n.type) {
    case 'Literal': {
      const v = (n as jsep.Literal).value;
      return typeof v === 'string' ? `'${v.replace(/'/g, "\\'")}'` : String(v);
    }
    case 'Identifier':
      return (n as jsep.Identifier).name;
    case 'ArrayExpression':
      return `[${(n as jsep.ArrayExpression).elements.map((e) => print(e as jsep.Expression)).join(', ')}]`;
    case 'UnaryExpression': {
      const u = n as jsep.UnaryExpression;
      return `${u.operator === 'not' ? '!' : u.operator}(${print(u.argument)})`;
    }
    case 'BinaryExpression': {
      const b = n as jsep.BinaryExpression;
      return `(${print(b.left)} ${b.operator} ${print(b.right)})`;
    }
    case 'ConditionalExpression': {
      const c = n as jsep.ConditionalExpression;
      return `(${print(c.test)} ? ${print(c.consequent)} : ${print(c.alternate)})`;
    }
    case 'CallExpression': {
      const c = n as jsep.CallExpression;
      return `${print(c.callee)}(${c.arguments.map(print).join(', ')})`;
    }
    default:
      throw new Error(`cannot print ${n.type}`);
  }
}

function identifiers(n: jsep.Expression): string[] {
  if (n.type === 'Identifier') return [(n as jsep.Identifier).name];
  return Object.values(n).flatMap((v) =>
    Array.isArray(v)
      ? v.flatMap((x) => (x && typeof x === 'object' && 'type' in x ? identifiers(x) : []))
      : v && typeof v === 'object' && 'type' in v
        ? identifiers(v as jsep.Expression)
        : [],
  );
}

/** The dates [from, to) of a period label. */
export function periodRange(grain: Grain, period: string): { from: string; to: string } {
  const bad = () =>
    new KvalregError(
      'invalid',
      `"${period}" is not a ${grain} period: write ${grain === 'year' ? '2024' : grain === 'quarter' ? '2024-Q1' : '2024-06'}.`,
    );
  const pad = (n: number) => String(n).padStart(2, '0');
  if (grain === 'year') {
    if (!/^\d{4}$/.test(period)) throw bad();
    return { from: `${period}-01-01`, to: `${Number(period) + 1}-01-01` };
  }
  if (grain === 'quarter') {
    const m = /^(\d{4})-Q([1-4])$/.exec(period);
    if (!m) throw bad();
    const y = Number(m[1]),
      q = Number(m[2]);
    return { from: `${y}-${pad(q * 3 - 2)}-01`, to: q === 4 ? `${y + 1}-01-01` : `${y}-${pad(q * 3 + 1)}-01` };
  }
  const m = /^(\d{4})-(\d{2})$/.exec(period);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw bad();
  const y = Number(m[1]),
    mo = Number(m[2]);
  const next = mo === 12 ? `${y + 1}-01-01` : `${y}-${pad(mo + 1)}-01`;
  if (grain === 'month') return { from: `${y}-${pad(mo)}-01`, to: next };
  // rolling 12 months ending with this month
  const start = new Date(Date.UTC(y, mo - 12, 1));
  return { from: `${start.getUTCFullYear()}-${pad(start.getUTCMonth() + 1)}-01`, to: next };
}
