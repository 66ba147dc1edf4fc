// The expression language's grammar and static types, shared by its two compilations: to a
// JavaScript closure (expr.ts: forms, worklist, capture, explanations) and to SQL (expr-sql.ts:
// indicators, statistics, analyses). Both ask this module what each node of an expression is, so
// that one expression has one meaning whichever way it runs (docs/registry-definitions.md,
// "What an expression means"; proved by test/expr-differential.test.ts).
//
// Types: text (the codebook's text and code), number (integer and decimal), boolean, date,
// datetime, `null` (the literal, or the empty string: unknown), and `any` (a value whose type is not
// known when compiling: a registry function's result, or a variable compiled without the
// codebook's types; the JavaScript compilation then decides by the value itself). A string literal
// takes the type of what it is compared with: '2024-01-01' against a date is a date, '3' against a
// number is the number 3; a literal that cannot be that type is an error at load time.
import jsep from 'jsep';
import type { VariableType } from './schema.ts';
import { KvalregError } from '../errors.ts';

jsep.addBinaryOp('in', 7);
jsep.addBinaryOp('and', 2);
jsep.addBinaryOp('or', 1);
jsep.addUnaryOp('not');

export class ExpressionError extends KvalregError {
  constructor(message: string) {
    super('invalid', message);
  }
}

export function parseExpression(source: string): jsep.Expression {
  try {
    return jsep(source);
  } catch (err) {
    throw new ExpressionError(`cannot parse "${source}": ${(err as Error).message}`);
  }
}

export type ExprType = 'text' | 'number' | 'boolean' | 'date' | 'datetime' | 'null' | 'any';
type Raw = ExprType | 'list' | 'literal';

/** The expression type of a codebook variable type. */
export function exprTypeOf(t: VariableType): ExprType {
  switch (t) {
    case 'text':
    case 'code':
      return 'text';
    case 'integer':
    case 'decimal':
      return 'number';
    default:
      return t;
  }
}

/**
 * Text that is a number for comparisons with numbers: an optional sign, at most 15 digits before
 * and after the point, no exponent and no spaces ("3", "03", "-2.50"). Bounded so that every such
 * text converts to the same double in JavaScript and PostgreSQL (no overflow, no underflow).
 * Written with [0-9], not \d: PostgreSQL's \d also matches other scripts' digits.
 */
export const NUMERIC_TEXT = '^[+-]?([0-9]{1,15}([.][0-9]{0,15})?|[.][0-9]{1,15})$';
const NUMERIC_RE = new RegExp(NUMERIC_TEXT);
/** The number a text stands for, or null when it is not numeric text. */
export function numericText(s: string): number | null {
  return NUMERIC_RE.test(s) ? Number(s) : null;
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,3})?)?(Z|[+-](0\d|1[0-4]):[0-5]\d)$/;
export function isDateText(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}
/** A date and time with a zone, at most millisecond precision (what both compilations read alike). */
export function isDateTimeText(s: string): boolean {
  return DATETIME_RE.test(s) && isDateText(s.slice(0, 10)) && !Number.isNaN(Date.parse(s));
}

/** What the compilers need to know about each node, filled in by `typeExpression`. */
export interface Typing {
  type(node: jsep.Expression): ExprType | 'list';
  /** A string literal's value as its type takes it (a number for a numeric literal compared with numbers). */
  literal(node: jsep.Expression): string | number | null | undefined;
}

export interface TypeOptions {
  /** The type of a variable, or undefined when the name is not a variable (an error). */
  variable: (name: string) => ExprType | undefined;
  /** Functions beyond the built-ins (registry functions, code-list look-ups): their results are `any`. */
  functions?: Set<string>;
}

/** The built-ins every compilation knows, with their argument counts. */
const BUILTIN_ARITY: Record<string, [number, number]> = {
  present: [1, 1],
  missing: [1, 1],
  coalesce: [1, 99],
  days: [2, 2],
  hours: [2, 2],
  years: [2, 2],
  year: [1, 1],
  month: [1, 1],
  date: [1, 1],
  today: [0, 0],
  startsWith: [2, 2],
  length: [1, 1],
  startsWithAny: [2, 2],
  substr: [2, 3],
  band: [3, 3],
};
/** The names of the built-ins: what an expression may call in any registry (besides codeProperty and parameter). */
export const BUILTIN_FUNCTIONS: ReadonlySet<string> = new Set(Object.keys(BUILTIN_ARITY));
/** Built-ins only the JavaScript compilation has (they work per case); their results are `any`. */
export const JS_ONLY_BUILTINS = new Set(['startsWithAny', 'substr', 'band']);

const isNullNode = (n: jsep.Expression) =>
  (n.type === 'Identifier' && (n as jsep.Identifier).name === 'null') || (n.type === 'Literal' && (n as jsep.Literal).value === null);
export function isNullLiteral(n: jsep.Expression): boolean {
  return isNullNode(n);
}

const EQUALITY = new Set(['==', '===', '!=', '!==']);
const ORDER = new Set(['<', '<=', '>', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/']);
const LOGIC = new Set(['&&', '||', 'and', 'or']);

const dateLike = (t: ExprType) => t === 'date' || t === 'datetime';

/** Whether values of two types can be compared (equality and order have the same pairs). */
export function comparable(a: ExprType, b: ExprType): boolean {
  if (a === 'any' || b === 'any' || a === 'null' || b === 'null') return true;
  if (a === b) return true;
  if ((a === 'text' && b === 'number') || (a === 'number' && b === 'text')) return true;
  return dateLike(a) && dateLike(b);
}

/**
 * Types every node of an expression, adapting string literals to what they meet, and refuses what
 * has no meaning (a date compared with a number, arithmetic on text, a literal that is no date
 * where a date is needed) with a message naming the expression.
 */
export function typeExpression(source: string, ast: jsep.Expression, opts: TypeOptions): Typing {
  const types = new Map<jsep.Expression, Raw>();
  const literals = new Map<jsep.Expression, string | number | null>();
  const fail = (msg: string): never => {
    throw new ExpressionError(`${msg} in "${source}"`);
  };
  const show = (n: jsep.Expression) =>
    n.type === 'Literal'
      ? JSON.stringify((n as jsep.Literal).value)
      : n.type === 'Identifier'
        ? (n as jsep.Identifier).name
        : 'an expression';

  /** The common type of values of these types (null goes with anything, `any` absorbs the rest). */
  const common = (ts: ExprType[], what: string): ExprType => {
    let c: ExprType = 'null';
    for (const t of ts) {
      if (t === 'null' || t === c) continue;
      if (c === 'null') {
        c = t;
        continue;
      }
      if (t === 'any' || c === 'any') {
        c = 'any';
        continue;
      }
      fail(`${what} mix ${c} and ${t}`);
    }
    return c;
  };
  /**
   * Gives a pending node its type: a string literal, or a "?:" or coalesce() made only of string
   * literals (and nulls), which takes its type from where it is used. Other nodes keep theirs.
   */
  const adapt = (n: jsep.Expression, to: ExprType): ExprType => {
    const t = types.get(n);
    if (t !== 'literal') return t as ExprType;
    // Met by a number, literals that are all numeric text are numbers; otherwise all stay text.
    if (to === 'number' && n.type !== 'Literal' && !numericLeaves(n)) to = 'text';
    if (n.type === 'ConditionalExpression') {
      const c = n as jsep.ConditionalExpression;
      const out = common([adapt(c.consequent, to), adapt(c.alternate, to)], 'the branches of "?"');
      types.set(n, out);
      return out;
    }
    if (n.type === 'CallExpression') {
      const out = common(
        (n as jsep.CallExpression).arguments.map((a) => adapt(a, to)),
        'the arguments of coalesce()',
      );
      types.set(n, out);
      return out;
    }
    const s = String((n as jsep.Literal).value);
    let type: ExprType;
    let value: string | number = s;
    switch (to) {
      case 'number': {
        // Numeric text is that number; other text stays text, and compares with numbers as text does.
        const x = numericText(s);
        if (x === null) type = 'text';
        else {
          type = 'number';
          value = x;
        }
        break;
      }
      case 'date':
      case 'datetime':
        if (isDateText(s)) type = 'date';
        else if (isDateTimeText(s)) type = 'datetime';
        else return fail(`'${s}' is compared with a date but is not a date (YYYY-MM-DD) or a date and time with a zone`);
        break;
      case 'boolean':
        return fail(`'${s}' is compared with a boolean: write true or false`);
      case 'any':
        type = 'any';
        break;
      default:
        type = 'text';
    }
    types.set(n, type);
    literals.set(n, value);
    return type;
  };
  const numericLeaves = (n: jsep.Expression): boolean => {
    if (types.get(n) !== 'literal') return true;
    if (n.type === 'Literal') return numericText(String((n as jsep.Literal).value)) !== null;
    if (n.type === 'ConditionalExpression')
      return numericLeaves((n as jsep.ConditionalExpression).consequent) && numericLeaves((n as jsep.ConditionalExpression).alternate);
    return (n as jsep.CallExpression).arguments.every(numericLeaves);
  };
  const settle = (n: jsep.Expression): ExprType => {
    const t = types.get(n);
    if (t === 'list') return fail('a list can only stand on the right of "in" or as a function\'s argument');
    return t === 'literal' ? adapt(n, 'text') : (t as ExprType);
  };
  /**
   * The common type of several values (branches of ?:, arguments of coalesce): pending literals take
   * the type of the others; when all are literals (or null), the whole stays pending.
   */
  const unify = (nodes: jsep.Expression[], what: string): Raw => {
    for (const n of nodes) if (types.get(n) === 'list') settle(n);
    const known = nodes.map((n) => types.get(n)).find((t) => t !== 'literal' && t !== 'null');
    if (known === undefined && nodes.some((n) => types.get(n) === 'literal')) return 'literal';
    const target = (known ?? 'null') as ExprType;
    return common(
      nodes.map((n) => (types.get(n) === 'literal' ? adapt(n, target === 'null' ? 'text' : target) : settle(n))),
      what,
    );
  };
  const need = (n: jsep.Expression, allowed: ExprType[], what: string): ExprType => {
    const raw = types.get(n) as Raw;
    const t = raw === 'literal' ? adapt(n, allowed[0]) : settle(n);
    if (t === 'null' || t === 'any' || allowed.includes(t)) return t;
    return fail(`${what} needs ${allowed.join(' or ')}, not ${t} (${show(n)})`);
  };

  const visit = (node: jsep.Expression): Raw => {
    const set = (t: Raw) => {
      types.set(node, t);
      return t;
    };
    switch (node.type) {
      case 'Literal': {
        const v = (node as jsep.Literal).value;
        if (v === null) return set('null');
        if (typeof v === 'number') {
          if (!Number.isFinite(v)) fail(`"${v}" is not a finite number`);
          return set('number');
        }
        if (typeof v === 'boolean') return set('boolean');
        // The empty string is no value: unknown, like a blank field.
        if (v === '') {
          literals.set(node, null);
          return set('null');
        }
        return set('literal');
      }
      case 'Identifier': {
        const name = (node as jsep.Identifier).name;
        if (name === 'null') return set('null');
        if (name === 'true' || name === 'false') return set('boolean');
        const t = opts.variable(name);
        if (!t) fail(`unknown variable "${name}"`);
        return set(t!);
      }
      case 'ArrayExpression': {
        for (const e of (node as jsep.ArrayExpression).elements) visit(e as jsep.Expression);
        return set('list');
      }
      case 'UnaryExpression': {
        const u = node as jsep.UnaryExpression;
        visit(u.argument);
        if (u.operator === '!' || u.operator === 'not') {
          need(u.argument, ['boolean'], `"${u.operator}"`);
          return set('boolean');
        }
        if (u.operator === '-') {
          need(u.argument, ['number'], 'unary "-"');
          return set('number');
        }
        return fail(`operator "${u.operator}" is not supported`);
      }
      case 'BinaryExpression': {
        const b = node as jsep.BinaryExpression;
        const op = b.operator;
        visit(b.left);
        visit(b.right);
        if (EQUALITY.has(op) && (isNullNode(b.left) || isNullNode(b.right))) {
          settle(isNullNode(b.left) ? b.right : b.left);
          if (isNullNode(b.left) && isNullNode(b.right)) settle(b.left);
          return set('boolean');
        }
        if (LOGIC.has(op)) {
          need(b.left, ['boolean'], `"${op}"`);
          need(b.right, ['boolean'], `"${op}"`);
          return set('boolean');
        }
        if (ARITHMETIC.has(op)) {
          need(b.left, ['number'], `"${op}"`);
          need(b.right, ['number'], `"${op}"`);
          return set('number');
        }
        if (op === 'in') {
          if (b.right.type !== 'ArrayExpression') {
            // Only a value whose type is not known may be a list at run time (JavaScript only).
            if (types.get(b.right) !== 'any') fail("\"in\" needs a list like ['a', 'b'] on its right");
            settle(b.left);
            return set('boolean');
          }
          const items = (b.right as jsep.ArrayExpression).elements as jsep.Expression[];
          for (const i of items) if (types.get(i) === 'list') fail('a list inside a list');
          const left = types.get(b.left) as Raw;
          const pivot =
            left !== 'literal' && left !== 'null' && left !== 'list'
              ? (left as ExprType)
              : ((items.map((i) => types.get(i) as Raw).find((t) => t !== 'literal' && t !== 'null' && t !== 'list') ??
                  'text') as ExprType);
          const l = types.get(b.left) === 'literal' ? adapt(b.left, pivot) : settle(b.left);
          for (const i of items) {
            const t = types.get(i) === 'literal' ? adapt(i, l === 'null' ? pivot : l) : settle(i);
            if (!comparable(l, t)) fail(`"in" compares ${l} with ${t} (${show(i)})`);
          }
          return set('boolean');
        }
        if (EQUALITY.has(op) || ORDER.has(op)) {
          const lr = types.get(b.left) as Raw,
            rr = types.get(b.right) as Raw;
          let l: ExprType, r: ExprType;
          if (lr === 'literal' && rr === 'literal') {
            l = adapt(b.left, 'text');
            r = adapt(b.right, 'text');
          } else if (lr === 'literal') {
            r = settle(b.right);
            l = adapt(b.left, r === 'null' ? 'text' : r);
          } else if (rr === 'literal') {
            l = settle(b.left);
            r = adapt(b.right, l === 'null' ? 'text' : l);
          } else {
            l = settle(b.left);
            r = settle(b.right);
          }
          if (!comparable(l, r)) fail(`"${op}" compares ${l} with ${r}`);
          return set('boolean');
        }
        return fail(`operator "${op}" is not supported`);
      }
      case 'ConditionalExpression': {
        const c = node as jsep.ConditionalExpression;
        visit(c.test);
        visit(c.consequent);
        visit(c.alternate);
        need(c.test, ['boolean'], 'the condition of "?"');
        return set(unify([c.consequent, c.alternate], 'the branches of "?"'));
      }
      case 'CallExpression': {
        const c = node as jsep.CallExpression;
        if (c.callee.type !== 'Identifier') fail('only named functions can be called');
        const name = (c.callee as jsep.Identifier).name;
        const args = c.arguments as jsep.Expression[];
        for (const a of args) visit(a);
        const builtin = BUILTIN_ARITY[name];
        if (builtin && !opts.functions?.has(name)) {
          if (args.length < builtin[0] || args.length > builtin[1]) {
            fail(`${name}() takes ${builtin[0] === builtin[1] ? builtin[0] : `${builtin[0]}–${builtin[1]}`} argument(s)`);
          }
          const dates = (n: number) => args.slice(0, n).forEach((a) => need(a, ['date', 'datetime'], `${name}()`));
          switch (name) {
            case 'present':
            case 'missing':
              settle(args[0]);
              return set('boolean');
            case 'coalesce':
              return set(unify(args, 'the arguments of coalesce()'));
            case 'days':
            case 'hours':
            case 'years':
              dates(2);
              return set('number');
            case 'year':
            case 'month':
              dates(1);
              return set('number');
            case 'date':
              dates(1);
              return set('date');
            case 'today':
              return set('date');
            case 'startsWith':
              need(args[0], ['text'], 'startsWith()');
              need(args[1], ['text'], 'startsWith()');
              return set('boolean');
            case 'length':
              need(args[0], ['text'], 'length()');
              return set('number');
          }
        } else if (!opts.functions?.has(name)) {
          return fail(
            `unknown function "${name}"; known: ${[...new Set([...Object.keys(BUILTIN_ARITY), ...(opts.functions ?? [])])].sort().join(', ')}`,
          );
        }
        // A registry function or a per-case built-in: arguments as they are, result not known.
        for (const a of args) if (types.get(a) !== 'list') settle(a);
        return set('any');
      }
      default:
        return fail(`"${node.type}" is not allowed`);
    }
  };
  visit(ast);
  if (types.get(ast) === 'list') fail('a list cannot stand alone');
  if ((types.get(ast) as Raw) === 'literal') adapt(ast, 'text');
  return {
    type: (n) => {
      const t = types.get(n);
      if (t === undefined || t === 'literal') throw new ExpressionError(`internal: untyped node in "${source}"`);
      return t;
    },
    literal: (n) => literals.get(n),
  };
}
