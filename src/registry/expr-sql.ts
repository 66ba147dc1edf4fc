// Compiles a registry expression to a parameterised SQL expression over an analytics table, with
// the same meaning as the JavaScript compilation in expr.ts: SQL's three-valued logic is the
// language's own, `x == null` is IS NULL, and only `true` satisfies a condition. Strings from a
// definition always travel as parameters; column names come from the codebook, never from text
// that was not checked against it. Functions that only make sense per case (code-list look-ups,
// bands) are refused here: declare a derived variable for them, and it becomes a column.
import jsep from 'jsep';
import { ExpressionError, parseExpression } from './expr.ts';
import type { VariableType } from './schema.ts';

type SqlType = VariableType | 'unknown' | 'list' | 'string-literal';
interface Sql { sql: string; type: SqlType; items?: Sql[] }

const PG_TYPES: Partial<Record<SqlType, string>> = { date: 'date', datetime: 'timestamptz', integer: 'numeric', decimal: 'numeric', boolean: 'boolean' };
/** A string literal takes the type of what it is compared with ('2024-01-01' against a date is a date). */
function typedLike(x: Sql, peer: Sql): Sql {
  if (x.type !== 'string-literal') return x;
  return { sql: `${x.sql}::${PG_TYPES[peer.type] ?? 'text'}`, type: peer.type === 'string-literal' ? 'text' : peer.type };
}
function settle(x: Sql): Sql { return x.type === 'string-literal' ? { sql: `${x.sql}::text`, type: 'text' } : x; }

export interface SqlCompileOptions {
  /** The columns an expression may use, with their types. */
  columns: Map<string, VariableType>;
  /** Table alias the columns are qualified with. */
  alias: string;
  /** Collects parameter values; returns the placeholder for one. */
  param: (value: unknown) => string;
  /** Placeholder of the computation's as-of date (what `today()` means in a run). */
  asOf: string;
}

const OSLO = `'Europe/Oslo'`;

export function compileToSql(source: string, opts: SqlCompileOptions): string {
  return compileToSqlTyped(source, opts).sql;
}

/** The SQL and what kind of value it gives ('boolean' for a condition). */
export function compileToSqlTyped(source: string, opts: SqlCompileOptions): { sql: string; type: string } {
  const col = (name: string) => `${opts.alias}."${name}"`;
  const dateOf = (x: Sql): string => {
    if (x.type === 'date') return x.sql;
    if (x.type === 'datetime') return `((${x.sql}) AT TIME ZONE ${OSLO})::date`;
    return `(${x.sql})::date`;
  };
  const timeOf = (x: Sql): string => (x.type === 'datetime' ? x.sql : x.type === 'date' ? `((${x.sql})::timestamp AT TIME ZONE ${OSLO})` : `(${x.sql})::timestamptz`);
  const isNullLiteral = (n: jsep.Expression) => (n.type === 'Identifier' && (n as jsep.Identifier).name === 'null') || (n.type === 'Literal' && (n as jsep.Literal).value === null);

  const compile = (node: jsep.Expression): Sql => {
    switch (node.type) {
      case 'Literal': {
        const v = (node as jsep.Literal).value;
        if (v === null) return { sql: 'NULL', type: 'unknown' };
        if (typeof v === 'number') {
          if (!Number.isFinite(v)) throw new ExpressionError(`"${v}" is not a finite number in "${source}"`);
          return { sql: `(${String(v)})::numeric`, type: Number.isInteger(v) ? 'integer' : 'decimal' };
        }
        if (typeof v === 'boolean') return { sql: v ? 'TRUE' : 'FALSE', type: 'boolean' };
        return { sql: opts.param(String(v)), type: 'string-literal' };
      }
      case 'Identifier': {
        const name = (node as jsep.Identifier).name;
        if (name === 'null') return { sql: 'NULL', type: 'unknown' };
        if (name === 'true') return { sql: 'TRUE', type: 'boolean' };
        if (name === 'false') return { sql: 'FALSE', type: 'boolean' };
        const type = opts.columns.get(name);
        if (!type) throw new ExpressionError(`unknown variable "${name}" in "${source}"`);
        return { sql: col(name), type };
      }
      case 'ArrayExpression': {
        const items = (node as jsep.ArrayExpression).elements.map((e) => compile(e as jsep.Expression));
        return { sql: '', type: 'list', items };
      }
      case 'UnaryExpression': {
        const u = node as jsep.UnaryExpression;
        const arg = settle(compile(u.argument));
        if (u.operator === '!' || u.operator === 'not') return { sql: `(NOT (${arg.sql}))`, type: 'boolean' };
        if (u.operator === '-') return { sql: `(-(${arg.sql}))`, type: arg.type };
        throw new ExpressionError(`operator "${u.operator}" is not supported in "${source}"`);
      }
      case 'BinaryExpression': {
        const b = node as jsep.BinaryExpression;
        if (['==', '===', '!=', '!=='].includes(b.operator) && (isNullLiteral(b.left) || isNullLiteral(b.right))) {
          const other = compile(isNullLiteral(b.left) ? b.right : b.left);
          return { sql: `((${other.sql}) IS ${b.operator.startsWith('=') ? '' : 'NOT '}NULL)`, type: 'boolean' };
        }
        let l = compile(b.left), r = compile(b.right);
        if (b.operator === 'in') {
          if (r.type !== 'list') throw new ExpressionError(`"in" needs a list like ['a', 'b'] on its right in "${source}"`);
          const left = settle(l);
          const items = r.items!.map((i) => typedLike(i, left).sql);
          return { sql: items.length === 0 ? 'FALSE' : `((${left.sql}) IN (${items.join(', ')}))`, type: 'boolean' };
        }
        [l, r] = [typedLike(l, r), typedLike(r, l)];
        [l, r] = [settle(l), settle(r)];
        switch (b.operator) {
          case '&&': case 'and': return { sql: `((${l.sql}) AND (${r.sql}))`, type: 'boolean' };
          case '||': case 'or': return { sql: `((${l.sql}) OR (${r.sql}))`, type: 'boolean' };
          case '==': case '===': return { sql: `((${l.sql}) = (${r.sql}))`, type: 'boolean' };
          case '!=': case '!==': return { sql: `((${l.sql}) <> (${r.sql}))`, type: 'boolean' };
          case '<': case '<=': case '>': case '>=': return { sql: `((${l.sql}) ${b.operator} (${r.sql}))`, type: 'boolean' };
          case '+': case '-': case '*': return { sql: `((${l.sql}) ${b.operator} (${r.sql}))`, type: 'decimal' };
          case '/': return { sql: `((${l.sql})::numeric / NULLIF((${r.sql})::numeric, 0))`, type: 'decimal' };
        }
        throw new ExpressionError(`operator "${b.operator}" is not supported in "${source}"`);
      }
      case 'ConditionalExpression': {
        const c = node as jsep.ConditionalExpression;
        const t = compile(c.test), y = settle(compile(c.consequent)), n = settle(compile(c.alternate));
        return { sql: `(CASE WHEN (${t.sql}) IS TRUE THEN ${y.sql} ELSE ${n.sql} END)`, type: y.type === 'unknown' ? n.type : y.type };
      }
      case 'CallExpression': {
        const c = node as jsep.CallExpression;
        if (c.callee.type !== 'Identifier') throw new ExpressionError(`only named functions can be called in "${source}"`);
        const name = (c.callee as jsep.Identifier).name;
        const args = c.arguments.map((a) => settle(compile(a)));
        const need = (n: number) => { if (args.length !== n) throw new ExpressionError(`${name}() takes ${n} argument(s) in "${source}"`); };
        switch (name) {
          case 'present': need(1); return { sql: args[0].type === 'text' || args[0].type === 'code' ? `((${args[0].sql}) IS NOT NULL AND (${args[0].sql}) <> '')` : `((${args[0].sql}) IS NOT NULL)`, type: 'boolean' };
          case 'missing': need(1); return { sql: args[0].type === 'text' || args[0].type === 'code' ? `((${args[0].sql}) IS NULL OR (${args[0].sql}) = '')` : `((${args[0].sql}) IS NULL)`, type: 'boolean' };
          case 'coalesce': return { sql: `COALESCE(${args.map((a) => a.sql).join(', ')})`, type: args.find((a) => a.type !== 'unknown')?.type ?? 'unknown' };
          case 'days': need(2); return { sql: `(${dateOf(args[1])} - ${dateOf(args[0])})`, type: 'integer' };
          case 'hours': need(2); return { sql: `(EXTRACT(EPOCH FROM (${timeOf(args[1])} - ${timeOf(args[0])})) / 3600)`, type: 'decimal' };
          case 'years': need(2); return { sql: `(EXTRACT(YEAR FROM age(${dateOf(args[1])}, ${dateOf(args[0])}))::integer)`, type: 'integer' };
          case 'year': need(1); return { sql: `(EXTRACT(YEAR FROM ${dateOf(args[0])})::integer)`, type: 'integer' };
          case 'month': need(1); return { sql: `(EXTRACT(MONTH FROM ${dateOf(args[0])})::integer)`, type: 'integer' };
          case 'date': need(1); return { sql: dateOf(args[0]), type: 'date' };
          case 'today': need(0); return { sql: `(${opts.asOf})::date`, type: 'date' };
          case 'startsWith': need(2); return { sql: `starts_with(${args[0].sql}, ${args[1].sql})`, type: 'boolean' };
          case 'length': need(1); return { sql: `length(${args[0].sql})`, type: 'integer' };
        }
        throw new ExpressionError(`function "${name}" cannot be used in an indicator (in "${source}"): declare a derived variable in the codebook and use that`);
      }
      default:
        throw new ExpressionError(`"${node.type}" is not allowed in "${source}"`);
    }
  };
  const out = compile(parseExpression(source));
  if (out.type === 'list') throw new ExpressionError(`a list cannot stand alone in "${source}"`);
  return settle(out);
}
