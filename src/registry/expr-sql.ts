// Compiles a registry expression to a parameterised SQL expression over an analytics table, with
// the same meaning as the JavaScript compilation in expr.ts (the rules are listed there, and in
// docs/registry-definitions.md, "What an expression means"; test/expr-differential.test.ts holds
// the two to them). Both take each node's type from expr-types.ts. Strings from a definition
// always travel as parameters; column names come from the codebook, never from text that was not
// checked against it. Functions that only make sense per case (code-list look-ups, bands) are
// refused here: declare a derived variable for them, and it becomes a column.
//
// How SQL is made to agree with JavaScript:
// - numbers are double precision (IEEE, as in JavaScript): integer columns and literals are cast;
// - the empty string is NULL (NULLIF on text columns; the literal '' is NULL);
// - text is ordered with COLLATE "C" (code points), whatever the database's locale;
// - a date meets a date-time as midnight in Europe/Oslo, and a date-time's date is taken there,
//   so the session's time zone never matters;
// - a number and a text compare as numbers when the text is numeric text (expr-types.ts).
import type jsep from 'jsep';
import {
  ExpressionError,
  exprTypeOf,
  isNullLiteral,
  JS_ONLY_BUILTINS,
  NUMERIC_TEXT,
  parseExpression,
  typeExpression,
  type ExprType,
} from './expr-types.ts';
import type { VariableType } from './schema.ts';

export interface SqlCompileOptions {
  /** The columns an expression may use, with their types. */
  columns: Map<string, VariableType>;
  /** Table alias the columns are qualified with. */
  alias: string;
  /**
   * Where a variable's value comes from, when not a column of the aliased table (the analytics
   * refresh computes derived variables from the forms' values, one stage after another).
   */
  column?: (name: string) => string;
  /** Collects parameter values; returns the placeholder for one. */
  param: (value: unknown) => string;
  /** Placeholder of the computation's as-of date (what `today()` means in a run). */
  asOf: string;
}

const OSLO = `'Europe/Oslo'`;
const PG: Record<Exclude<ExprType, 'null' | 'any'>, string> = {
  text: 'text',
  number: 'double precision',
  boolean: 'boolean',
  date: 'date',
  datetime: 'timestamptz',
};
const SQL_FUNCTIONS = new Set([
  'present',
  'missing',
  'coalesce',
  'days',
  'hours',
  'years',
  'year',
  'month',
  'date',
  'today',
  'startsWith',
  'length',
]);

export function compileToSql(source: string, opts: SqlCompileOptions): string {
  return compileToSqlTyped(source, opts).sql;
}

/** The SQL and what kind of value it gives ('boolean' for a condition, 'number', 'text', 'date', 'datetime'). */
export function compileToSqlTyped(source: string, opts: SqlCompileOptions): { sql: string; type: ExprType } {
  const ast = parseExpression(source);
  refusePerCaseFunctions(source, ast);
  const typing = typeExpression(source, ast, {
    variable: (name) => {
      const t = opts.columns.get(name);
      return t ? exprTypeOf(t) : undefined;
    },
  });
  const typeOf = (n: jsep.Expression) => typing.type(n) as ExprType;

  /** The node's SQL as a value of type `as` (an unknown literal gets that type, so PostgreSQL can resolve operators). */
  const value = (n: jsep.Expression, as: ExprType): string => {
    const t = typeOf(n);
    if (t === 'null') return as === 'null' || as === 'any' ? 'NULL' : `NULL::${PG[as]}`;
    return sql(n);
  };
  const dateOf = (n: jsep.Expression): string => {
    const t = typeOf(n);
    if (t === 'datetime') return `((${sql(n)}) AT TIME ZONE ${OSLO})::date`;
    return value(n, 'date');
  };
  const timeOf = (n: jsep.Expression): string => {
    const t = typeOf(n);
    if (t === 'date') return `((${sql(n)})::timestamp AT TIME ZONE ${OSLO})`;
    return value(n, 'datetime');
  };
  const NUMERIC = `'${NUMERIC_TEXT}'`;

  /** `=` with the language's meaning for each pair of types. */
  const equals = (l: jsep.Expression, r: jsep.Expression): string => {
    const lt = typeOf(l),
      rt = typeOf(r);
    if (lt === 'null' || rt === 'null') return 'NULL::boolean';
    if (lt === 'text' && rt === 'number') return textEqualsNumber(sql(l), sql(r));
    if (lt === 'number' && rt === 'text') return textEqualsNumber(sql(r), sql(l));
    if (lt === rt && lt !== 'datetime') return `(${sql(l)} = ${sql(r)})`;
    return `(${timeOf(l)} = ${timeOf(r)})`;
  };
  const textEqualsNumber = (t: string, n: string) =>
    `(CASE WHEN (${t}) IS NULL OR (${n}) IS NULL THEN NULL WHEN (${t}) ~ ${NUMERIC} THEN (${t})::double precision = (${n}) ELSE FALSE END)`;
  const order = (op: string, l: jsep.Expression, r: jsep.Expression): string => {
    const lt = typeOf(l),
      rt = typeOf(r);
    if (lt === 'null' || rt === 'null') return 'NULL::boolean';
    if (lt === 'text' && rt === 'text') return `((${sql(l)}) COLLATE "C" ${op} (${sql(r)}))`;
    if (lt === 'text' && rt === 'number')
      return `(CASE WHEN (${sql(l)}) ~ ${NUMERIC} THEN (${sql(l)})::double precision ${op} (${sql(r)}) END)`;
    if (lt === 'number' && rt === 'text')
      return `(CASE WHEN (${sql(r)}) ~ ${NUMERIC} THEN (${sql(l)}) ${op} (${sql(r)})::double precision END)`;
    if (lt === rt && lt !== 'datetime') return `(${sql(l)} ${op} ${sql(r)})`;
    return `(${timeOf(l)} ${op} ${timeOf(r)})`;
  };

  const sql = (node: jsep.Expression): string => {
    const type = typeOf(node);
    switch (node.type) {
      case 'Literal': {
        const v = (node as jsep.Literal).value;
        if (type === 'null') return 'NULL';
        if (typeof v === 'number') return `(${String(v)})::double precision`;
        if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
        const adapted = typing.literal(node);
        if (type === 'number') return `(${String(adapted)})::double precision`;
        return `${opts.param(String(adapted))}::${PG[type as 'text' | 'date' | 'datetime']}`;
      }
      case 'Identifier': {
        const name = (node as jsep.Identifier).name;
        if (name === 'null') return 'NULL';
        if (name === 'true') return 'TRUE';
        if (name === 'false') return 'FALSE';
        const col = opts.column ? opts.column(name) : `${opts.alias}."${name}"`;
        const declared = opts.columns.get(name)!;
        if (type === 'text') return `NULLIF(${col}, '')`;
        if (declared === 'integer') return `(${col})::double precision`;
        return col;
      }
      case 'UnaryExpression': {
        const u = node as jsep.UnaryExpression;
        if (u.operator === '-') return `(-${value(u.argument, 'number')})`;
        return `(NOT ${value(u.argument, 'boolean')})`;
      }
      case 'BinaryExpression': {
        const b = node as jsep.BinaryExpression;
        const op = b.operator;
        if (['==', '===', '!=', '!=='].includes(op) && (isNullLiteral(b.left) || isNullLiteral(b.right))) {
          const other = isNullLiteral(b.left) ? b.right : b.left;
          return `((${sql(other)}) IS ${op.startsWith('=') ? '' : 'NOT '}NULL)`;
        }
        switch (op) {
          case '&&':
          case 'and':
            return `(${value(b.left, 'boolean')} AND ${value(b.right, 'boolean')})`;
          case '||':
          case 'or':
            return `(${value(b.left, 'boolean')} OR ${value(b.right, 'boolean')})`;
          case '+':
          case '-':
          case '*':
            return `(${value(b.left, 'number')} ${op} ${value(b.right, 'number')})`;
          case '/':
            return `(${value(b.left, 'number')} / NULLIF(${value(b.right, 'number')}, 0))`;
          case '==':
          case '===':
            return equals(b.left, b.right);
          case '!=':
          case '!==':
            return `(NOT ${equals(b.left, b.right)})`;
          case '<':
          case '<=':
          case '>':
          case '>=':
            return order(op, b.left, b.right);
          case 'in': {
            const items = (b.right as jsep.ArrayExpression).elements as jsep.Expression[];
            if (items.length === 0) return 'FALSE';
            const lt = typeOf(b.left);
            // IN where every item has the left's own type; otherwise the same as a chain of ==.
            if (lt !== 'null' && lt !== 'datetime' && items.every((i) => typeOf(i) === lt || typeOf(i) === 'null')) {
              return `(${sql(b.left)} IN (${items.map((i) => value(i, lt)).join(', ')}))`;
            }
            return `(${items.map((i) => equals(b.left, i)).join(' OR ')})`;
          }
        }
        throw new ExpressionError(`operator "${op}" is not supported in "${source}"`);
      }
      case 'ConditionalExpression': {
        const c = node as jsep.ConditionalExpression;
        return `(CASE WHEN (${value(c.test, 'boolean')}) IS TRUE THEN ${value(c.consequent, type)} ELSE ${value(c.alternate, type)} END)`;
      }
      case 'CallExpression': {
        const c = node as jsep.CallExpression;
        const name = (c.callee as jsep.Identifier).name;
        const a = c.arguments as jsep.Expression[];
        switch (name) {
          case 'present':
            return `((${sql(a[0])}) IS NOT NULL)`;
          case 'missing':
            return `((${sql(a[0])}) IS NULL)`;
          case 'coalesce':
            return `COALESCE(${a.map((x) => value(x, type)).join(', ')})`;
          case 'days':
            return `((${dateOf(a[1])} - ${dateOf(a[0])})::double precision)`;
          // Milliseconds as a whole number, then divided as JavaScript divides.
          case 'hours':
            return `((EXTRACT(EPOCH FROM (${timeOf(a[1])} - ${timeOf(a[0])})) * 1000)::double precision / 3600000)`;
          case 'years':
            return `(EXTRACT(YEAR FROM age(${dateOf(a[1])}, ${dateOf(a[0])}))::double precision)`;
          case 'year':
            return `(EXTRACT(YEAR FROM ${dateOf(a[0])})::double precision)`;
          case 'month':
            return `(EXTRACT(MONTH FROM ${dateOf(a[0])})::double precision)`;
          case 'date':
            return dateOf(a[0]);
          case 'today':
            return `(${opts.asOf})::date`;
          case 'startsWith':
            return `starts_with(${value(a[0], 'text')}, ${value(a[1], 'text')})`;
          case 'length':
            return `(length(${value(a[0], 'text')})::double precision)`;
        }
        throw new ExpressionError(`function "${name}" cannot be used in SQL (in "${source}")`);
      }
      default:
        throw new ExpressionError(`"${node.type}" is not allowed in "${source}"`);
    }
  };
  const type = typeOf(ast);
  return { sql: value(ast, type === 'null' ? 'boolean' : type), type: type === 'null' ? 'boolean' : type };
}

/** Functions that work per case (code lists, bands, registry functions) have no SQL: say what to do instead. */
function refusePerCaseFunctions(source: string, node: jsep.Expression): void {
  const walk = (n: unknown): void => {
    if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      n.forEach(walk);
      return;
    }
    const e = n as jsep.Expression;
    if (e.type === 'CallExpression') {
      const callee = (e as jsep.CallExpression).callee;
      const name = callee.type === 'Identifier' ? (callee as jsep.Identifier).name : '';
      if (!SQL_FUNCTIONS.has(name) || JS_ONLY_BUILTINS.has(name)) {
        throw new ExpressionError(
          `function "${name}" cannot be used in an indicator (in "${source}"): declare a derived variable in the codebook and use that`,
        );
      }
    }
    for (const [k, v] of Object.entries(e)) if (k !== 'type') walk(v);
  };
  walk(node);
}
