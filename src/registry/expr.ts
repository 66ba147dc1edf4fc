// The registry expression language: a small, side-effect-free language for inclusion rules,
// validation rules, conditional requirements, derived variables and indicator definitions. Parsed
// with jsep and typed in expr-types.ts; compiled here to a JavaScript closure over a case's values,
// and in expr-sql.ts to SQL, with one meaning (docs/registry-definitions.md, "What an expression
// means"; test/expr-differential.test.ts holds the two to it):
// - unknown values follow SQL's three-valued logic: a comparison with an unknown is unknown, and
//   only `true` satisfies a condition; the empty string is unknown, like a blank field;
// - a number and a text compare as numbers when the text is a number ("3" == 3), otherwise they are
//   not equal and neither is less;
// - a date meets a date-time (in a comparison or `hours()`) as midnight of that date in Norway;
//   days, years, months and dates of a date-time are taken in Norwegian time;
// - text is ordered by Unicode code point, the same in every database locale;
// - numbers are IEEE doubles, as in JavaScript (SQL computes in double precision).
// Compiled with the codebook's types (`types`), each operation is chosen by the declared types;
// without them (a variable of unknown type, a registry function's result) by the value itself.
import type jsep from 'jsep';
import { osloDate } from '../time/oslo.ts';
import {
  comparable,
  ExpressionError,
  isDateText,
  isNullLiteral,
  numericText,
  parseExpression,
  typeExpression,
  type ExprType,
} from './expr-types.ts';
import { exprTypeOf } from './expr-types.ts';
import type { VariableType } from './schema.ts';

export { ExpressionError, parseExpression } from './expr-types.ts';

export type Value = string | number | boolean | null;
export type Values = Record<string, unknown>;
/** What an evaluation is relative to: `today()` is the as-of date when one is given. */
export interface EvalContext {
  asOf?: string;
}
export type Compiled = (values: Values, ctx?: EvalContext) => unknown;
export type RegistryFunction = (...args: unknown[]) => unknown;

const DAY_MS = 86_400_000;

function isNull(x: unknown): x is null | undefined {
  return x === null || x === undefined || x === '';
}

// ---- dates and times ---------------------------------------------------------------------------

const DATETIME_VALUE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
// The cheap look first (most texts are codes): only a string shaped like a date is parsed.
/** A value that is a date-time: a date, a time and (for Date.parse to read it) a zone. */
function isDateTimeValue(x: unknown): x is string {
  return (
    typeof x === 'string' && x.length >= 16 && x.charCodeAt(10) === 84 /* T */ && DATETIME_VALUE.test(x) && !Number.isNaN(Date.parse(x))
  );
}
function isDateValue(x: unknown): x is string {
  return typeof x === 'string' && x.length === 10 && x.charCodeAt(4) === 45 && x.charCodeAt(7) === 45 && isDateText(x);
}

const wall = new Intl.DateTimeFormat('en-US', {
  timeZone: 'Europe/Oslo',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
/** How far Norwegian wall-clock time is ahead of UTC at instant t (ms). */
function osloOffset(t: number): number {
  const p: Record<string, string> = {};
  for (const x of wall.formatToParts(new Date(t))) p[x.type] = x.value;
  return (
    Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) -
    Math.floor(t / 1000) * 1000
  );
}
const midnights = new Map<string, number>();
/** The instant a date begins in Norway (00:00 always exists there: the clocks change at 02:00/03:00). */
export function osloMidnight(date: string): number {
  let t = midnights.get(date);
  if (t !== undefined) return t;
  const u = Date.parse(`${date}T00:00:00Z`);
  t = u - osloOffset(u);
  const again = u - osloOffset(t);
  if (again !== t) t = again;
  if (midnights.size > 50_000) midnights.clear();
  midnights.set(date, t);
  return t;
}
/** A date or date-time as an instant (ms); null for anything else. */
function instant(x: unknown): number | null {
  if (isDateValue(x)) return osloMidnight(x);
  if (isDateTimeValue(x)) return Date.parse(x);
  return null;
}
/** The Norwegian calendar date of a date or date-time; null for anything else. */
function calendarDate(x: unknown): string | null {
  if (isDateValue(x)) return x;
  if (isDateTimeValue(x)) return osloDate(x);
  return null;
}
function dayNumber(d: string): number {
  return Date.parse(`${d}T00:00:00Z`) / DAY_MS;
}
/** Whole years from one date to a later one (an age at an event). */
function wholeYears(from: string, to: string): number {
  let years = Number(to.slice(0, 4)) - Number(from.slice(0, 4));
  if (to.slice(5) < from.slice(5)) years -= 1;
  return years;
}

// ---- comparisons -------------------------------------------------------------------------------

/** Strings by Unicode code point (UTF-16 order differs only where surrogate pairs are involved). */
export function compareText(a: string, b: string): number {
  if (!/[\uD800-\uDFFF]/.test(a) && !/[\uD800-\uDFFF]/.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = Array.from(a, (c) => c.codePointAt(0)!),
    y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
const sign = (a: number, b: number) => (a < b ? -1 : a > b ? 1 : 0);

/** The type a value has at run time, for values compiled without a declared type. */
function kindOf(x: unknown): ExprType {
  if (typeof x === 'number') return 'number';
  if (typeof x === 'boolean') return 'boolean';
  if (isDateValue(x)) return 'date';
  if (isDateTimeValue(x)) return 'datetime';
  return 'text';
}

type Order = (a: unknown, b: unknown) => number | null;
/** How two known values of these types are ordered (negative, 0, positive), or null when they are not. */
function orderFor(l: ExprType, r: ExprType): Order {
  if (l === 'any' || r === 'any')
    return (a, b) => {
      const k = kindOf(a),
        m = kindOf(b);
      return comparable(k, m) ? orderFor(k, m)(a, b) : null;
    };
  if (l === 'number' && r === 'number') return (a, b) => sign(Number(a), Number(b));
  if (l === 'text' && r === 'text') return (a, b) => compareText(String(a), String(b));
  if (l === 'text' && r === 'number')
    return (a, b) => {
      const x = numericText(String(a));
      return x === null ? null : sign(x, Number(b));
    };
  if (l === 'number' && r === 'text')
    return (a, b) => {
      const y = numericText(String(b));
      return y === null ? null : sign(Number(a), y);
    };
  if (l === 'boolean' && r === 'boolean') return (a, b) => sign(Number(a), Number(b));
  if (l === 'date' && r === 'date') return (a, b) => compareText(String(a), String(b));
  if ((l === 'date' || l === 'datetime') && (r === 'date' || r === 'datetime')) {
    return (a, b) => {
      const x = instant(a),
        y = instant(b);
      return x === null || y === null ? null : sign(x, y);
    };
  }
  return () => null;
}
/** Equality of two known values: like their order being 0, except that values that cannot be compared are not equal. */
function equalityFor(l: ExprType, r: ExprType): (a: unknown, b: unknown) => boolean {
  if (l === 'any' || r === 'any')
    return (a, b) => {
      const k = kindOf(a),
        m = kindOf(b);
      return comparable(k, m) && orderFor(k, m)(a, b) === 0;
    };
  const order = orderFor(l, r);
  return (a, b) => order(a, b) === 0;
}

// ---- built-in functions ------------------------------------------------------------------------

/** Built-ins whose arguments are values (each returns null when an argument it needs is unknown). */
const builtins: Record<string, RegistryFunction> = {
  present: (x) => !isNull(x),
  missing: (x) => isNull(x),
  coalesce: (...xs) => xs.find((x) => !isNull(x)) ?? null,
  startsWith: (s, p) => (isNull(s) || isNull(p) ? null : String(s).startsWith(String(p))),
  startsWithAny: (s, list) => (isNull(s) ? null : (list as unknown[]).some((p) => String(s).startsWith(String(p)))),
  substr: (s, start, len) => (isNull(s) ? null : String(s).substr(Number(start), len === undefined ? undefined : Number(len))),
  /** Characters (Unicode code points, as SQL counts them). */
  length: (s) => (isNull(s) ? null : Array.from(String(s)).length),
  /** Calendar days from the date of `a` to the date of `b` (dates or date-times, in Norwegian time). */
  days: (a, b) => {
    const x = calendarDate(a),
      y = calendarDate(b);
    return x === null || y === null ? null : Math.round(dayNumber(y) - dayNumber(x));
  },
  /** Hours from `a` to `b`; a date counts from its midnight in Norway. */
  hours: (a, b) => {
    const x = instant(a),
      y = instant(b);
    return x === null || y === null ? null : (y - x) / 3_600_000;
  },
  /** Whole years from date `a` to date `b` (age at an event); negative when `b` is earlier, counted towards zero. */
  years: (a, b) => {
    const x = calendarDate(a),
      y = calendarDate(b);
    if (x === null || y === null) return null;
    return y >= x ? wholeYears(x, y) : -wholeYears(y, x);
  },
  year: (d) => {
    const x = calendarDate(d);
    return x === null ? null : Number(x.slice(0, 4));
  },
  month: (d) => {
    const x = calendarDate(d);
    return x === null ? null : Number(x.slice(5, 7));
  },
  date: (d) => calendarDate(d),
  /**
   * The label of the band `x` falls in: `breaks` are the lower bounds of the second band onwards,
   * so band(age, [18, 50, 67], ['0-17', '18-49', '50-66', '67+']) puts 17 in '0-17' and 67 in '67+'.
   */
  band: (x, breaks, labels) => {
    if (isNull(x) || !Array.isArray(breaks) || !Array.isArray(labels)) return null;
    let i = 0;
    while (i < breaks.length && Number(x) >= Number(breaks[i])) i++;
    return labels[i] ?? null;
  },
};

export interface CompileOptions {
  /** Names an expression may use (variables); anything else is an error at load time. */
  variables: Set<string>;
  /** The codebook's types of the variables: operations are then chosen (and checked) by type at load time. */
  types?: Map<string, VariableType>;
  functions?: Record<string, RegistryFunction>;
}

/** The variables an expression reads (not the functions it calls). */
export function expressionVariables(source: string): string[] {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    const n = node as jsep.Expression;
    if (n.type === 'Identifier') {
      const name = (n as jsep.Identifier).name;
      if (!['null', 'true', 'false'].includes(name)) names.add(name);
      return;
    }
    if (n.type === 'CallExpression') {
      (n as jsep.CallExpression).arguments.forEach(walk);
      return;
    }
    for (const [k, v] of Object.entries(n)) if (k !== 'type') walk(v);
  };
  walk(parseExpression(source));
  return [...names];
}

export function compileExpression(source: string, opts: CompileOptions): Compiled {
  const registryFns = opts.functions ?? {};
  const ast = parseExpression(source);
  const typing = typeExpression(source, ast, {
    variable: (name) => {
      if (!opts.variables.has(name)) return undefined;
      const t = opts.types?.get(name);
      return t ? exprTypeOf(t) : 'any';
    },
    functions: new Set(Object.keys(registryFns)),
  });
  const scalar = (n: jsep.Expression): ExprType => typing.type(n) as ExprType;

  const compile = (node: jsep.Expression): Compiled => {
    switch (node.type) {
      case 'Literal': {
        const adapted = typing.literal(node);
        const v = adapted !== undefined ? adapted : (node as jsep.Literal).value;
        return () => v;
      }
      case 'Identifier': {
        const name = (node as jsep.Identifier).name;
        if (name === 'null') return () => null;
        if (name === 'true') return () => true;
        if (name === 'false') return () => false;
        return (v) => {
          const x = v[name];
          return isNull(x) ? null : x;
        };
      }
      case 'ArrayExpression': {
        const items = (node as jsep.ArrayExpression).elements.map((e) => compile(e as jsep.Expression));
        return (v, c) => items.map((f) => f(v, c));
      }
      case 'UnaryExpression': {
        const u = node as jsep.UnaryExpression;
        const arg = compile(u.argument);
        if (u.operator === '!' || u.operator === 'not')
          return (v, c) => {
            const x = arg(v, c);
            return isNull(x) ? null : !x;
          };
        return (v, c) => {
          const x = arg(v, c);
          return typeof x === 'number' ? -x : null;
        };
      }
      case 'BinaryExpression':
        return binary(node as jsep.BinaryExpression);
      case 'CallExpression': {
        const c = node as jsep.CallExpression;
        const name = (c.callee as jsep.Identifier).name;
        const args = c.arguments.map(compile);
        if (name === 'today' && !(name in registryFns)) return (_v, ctx) => ctx?.asOf ?? osloDate(new Date().toISOString());
        const fn = registryFns[name] ?? builtins[name];
        if (!fn) throw new ExpressionError(`unknown function "${name}" in "${source}"`);
        return (v, ctx) => fn(...args.map((a) => a(v, ctx)));
      }
      case 'ConditionalExpression': {
        const c = node as jsep.ConditionalExpression;
        const test = compile(c.test),
          yes = compile(c.consequent),
          no = compile(c.alternate);
        return (v, ctx) => (test(v, ctx) === true ? yes(v, ctx) : no(v, ctx));
      }
      default:
        throw new ExpressionError(`"${node.type}" is not allowed in "${source}"`);
    }
  };

  const binary = (b: jsep.BinaryExpression): Compiled => {
    const op = b.operator;
    // `x == null` / `x != null` ask whether x is unknown (SQL's IS [NOT] NULL).
    if (['==', '===', '!=', '!=='].includes(op) && (isNullLiteral(b.left) || isNullLiteral(b.right))) {
      const other = compile(isNullLiteral(b.left) ? b.right : b.left);
      const wantNull = op === '==' || op === '===';
      return (v, c) => isNull(other(v, c)) === wantNull;
    }
    const l = compile(b.left);
    switch (op) {
      case '&&':
      case 'and': {
        const r = compile(b.right);
        return (v, c) => {
          const a = l(v, c);
          if (a === false) return false;
          const x = r(v, c);
          if (x === false) return false;
          return isNull(a) || isNull(x) ? null : true;
        };
      }
      case '||':
      case 'or': {
        const r = compile(b.right);
        return (v, c) => {
          const a = l(v, c);
          if (a === true) return true;
          const x = r(v, c);
          if (x === true) return true;
          return isNull(a) || isNull(x) ? null : false;
        };
      }
      case 'in': {
        const lt = scalar(b.left);
        if (b.right.type !== 'ArrayExpression') {
          // A list known only at run time (a value of unknown type).
          const r = compile(b.right);
          const eq = equalityFor('any', 'any');
          return (v, c) => {
            const a = l(v, c),
              list = r(v, c);
            if (isNull(a) || !Array.isArray(list)) return null;
            return anyOf(
              a,
              list.map((x) => [x, eq] as const),
            );
          };
        }
        const items = ((b.right as jsep.ArrayExpression).elements as jsep.Expression[]).map((e) => ({
          f: compile(e),
          eq: equalityFor(lt, scalar(e)),
        }));
        // `x in [a, b]` is `x == a || x == b`: false for an empty list, unknown when x is.
        return (v, c) => {
          if (items.length === 0) return false;
          const a = l(v, c);
          if (isNull(a)) return null;
          return anyOf(
            a,
            items.map((i) => [i.f(v, c), i.eq] as const),
          );
        };
      }
    }
    const r = compile(b.right);
    const lt = scalar(b.left),
      rt = scalar(b.right);
    const known =
      (f: (a: any, x: any) => unknown): Compiled =>
      (v, c) => {
        const a = l(v, c),
          x = r(v, c);
        return isNull(a) || isNull(x) ? null : f(a, x);
      };
    const num = (f: (a: number, x: number) => number | null): Compiled =>
      known((a, x) => (typeof a === 'number' && typeof x === 'number' ? f(a, x) : null));
    switch (op) {
      case '+':
        return num((a, x) => a + x);
      case '-':
        return num((a, x) => a - x);
      case '*':
        return num((a, x) => a * x);
      case '/':
        return num((a, x) => (x === 0 ? null : a / x));
      case '==':
      case '===': {
        const eq = equalityFor(lt, rt);
        return known((a, x) => eq(a, x));
      }
      case '!=':
      case '!==': {
        const eq = equalityFor(lt, rt);
        return known((a, x) => !eq(a, x));
      }
    }
    const order = orderFor(lt, rt);
    const test: Record<string, (s: number) => boolean> = { '<': (s) => s < 0, '<=': (s) => s <= 0, '>': (s) => s > 0, '>=': (s) => s >= 0 };
    const t = test[op];
    if (!t) throw new ExpressionError(`operator "${op}" is not supported in "${source}"`);
    return known((a, x) => {
      const s = order(a, x);
      return s === null ? null : t(s);
    });
  };

  return compile(ast);
}

/** Three-valued "equals one of": true on a match, unknown when no match but an item is unknown, else false. */
function anyOf(a: unknown, items: ReadonlyArray<readonly [unknown, (a: unknown, b: unknown) => boolean]>): boolean | null {
  let unknown = false;
  for (const [x, eq] of items) {
    if (isNull(x)) {
      unknown = true;
      continue;
    }
    if (eq(a, x)) return true;
  }
  return unknown ? null : false;
}

/** Only `true` satisfies a condition; unknown does not. */
export function holds(result: unknown): boolean {
  return result === true;
}
