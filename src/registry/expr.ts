// The registry expression language: a small, side-effect-free language for inclusion rules,
// validation rules, conditional requirements and derived variables. Parsed with jsep; compiled
// here to a JavaScript closure over a case's values. Unknown values follow SQL's three-valued
// logic (a comparison with an unknown is unknown, and only `true` satisfies a condition), so the
// same expression can later be compiled to SQL with the same meaning.
import jsep from 'jsep';
import { osloDate } from '../time/oslo.ts';

jsep.addBinaryOp('in', 7);
jsep.addBinaryOp('and', 2);
jsep.addBinaryOp('or', 1);
jsep.addUnaryOp('not');

export type Value = string | number | boolean | null;
export type Values = Record<string, unknown>;
export type Compiled = (values: Values) => unknown;
export type RegistryFunction = (...args: unknown[]) => unknown;

export class ExpressionError extends Error {}

const DAY_MS = 86_400_000;

/** Built-in functions. Each returns null when an argument it needs is unknown. */
const builtins: Record<string, RegistryFunction> = {
  present: (x) => x !== null && x !== undefined && x !== '',
  missing: (x) => x === null || x === undefined || x === '',
  coalesce: (...xs) => xs.find((x) => x !== null && x !== undefined) ?? null,
  startsWith: (s, p) => (isNull(s) || isNull(p) ? null : String(s).startsWith(String(p))),
  startsWithAny: (s, list) => (isNull(s) ? null : (list as unknown[]).some((p) => String(s).startsWith(String(p)))),
  substr: (s, start, len) => (isNull(s) ? null : String(s).substr(Number(start), len === undefined ? undefined : Number(len))),
  length: (s) => (isNull(s) ? null : String(s).length),
  /** Calendar days from the date of `a` to the date of `b` (dates or date-times). */
  days: (a, b) => (isNull(a) || isNull(b) ? null : Math.round((dayNumber(String(b)) - dayNumber(String(a))))),
  /** Hours from date-time `a` to date-time `b`. */
  hours: (a, b) => (isNull(a) || isNull(b) ? null : (Date.parse(String(b)) - Date.parse(String(a))) / 3_600_000),
  /** Whole years from date `a` to date `b` (age at an event). */
  // Date-times are stored in UTC: take their date in Norwegian time before counting years or months.
  years: (a, b) => (isNull(a) || isNull(b) ? null : wholeYears(osloDate(String(a)), osloDate(String(b)))),
  year: (d) => (isNull(d) ? null : Number(osloDate(String(d)).slice(0, 4))),
  month: (d) => (isNull(d) ? null : Number(osloDate(String(d)).slice(5, 7))),
  date: (d) => (isNull(d) ? null : osloDate(String(d))),
  /** Today's date in Norwegian time (for follow-up windows: has a case been followed 30 days yet?). */
  today: () => osloDate(new Date().toISOString()),
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

function isNull(x: unknown): x is null | undefined { return x === null || x === undefined || x === ''; }

function dayNumber(s: string): number { return Date.parse(`${osloDate(s)}T00:00:00Z`) / DAY_MS; }
function wholeYears(from: string, to: string): number {
  let years = Number(to.slice(0, 4)) - Number(from.slice(0, 4));
  if (to.slice(5) < from.slice(5)) years -= 1;
  return years;
}

export interface CompileOptions {
  /** Names an expression may use (variables); anything else is an error at load time. */
  variables: Set<string>;
  functions?: Record<string, RegistryFunction>;
}

export function parseExpression(source: string): jsep.Expression {
  try {
    return jsep(source);
  } catch (err) {
    throw new ExpressionError(`cannot parse "${source}": ${(err as Error).message}`);
  }
}

/** The variables an expression reads (not the functions it calls). */
export function expressionVariables(source: string): string[] {
  const names = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) { node.forEach(walk); return; }
    const n = node as jsep.Expression;
    if (n.type === 'Identifier') {
      const name = (n as jsep.Identifier).name;
      if (!['null', 'true', 'false'].includes(name)) names.add(name);
      return;
    }
    if (n.type === 'CallExpression') { (n as jsep.CallExpression).arguments.forEach(walk); return; }
    for (const [k, v] of Object.entries(n)) if (k !== 'type') walk(v);
  };
  walk(parseExpression(source));
  return [...names];
}

export function compileExpression(source: string, opts: CompileOptions): Compiled {
  const fns = { ...builtins, ...opts.functions };
  const compile = (node: jsep.Expression): Compiled => {
    switch (node.type) {
      case 'Literal': {
        const v = (node as jsep.Literal).value;
        return () => v;
      }
      case 'Identifier': {
        const name = (node as jsep.Identifier).name;
        if (name === 'null') return () => null;
        if (name === 'true') return () => true;
        if (name === 'false') return () => false;
        if (!opts.variables.has(name)) throw new ExpressionError(`unknown variable "${name}" in "${source}"`);
        return (v) => v[name] ?? null;
      }
      case 'ArrayExpression': {
        const items = (node as jsep.ArrayExpression).elements.map((e) => compile(e as jsep.Expression));
        return (v) => items.map((f) => f(v));
      }
      case 'UnaryExpression': {
        const u = node as jsep.UnaryExpression;
        const arg = compile(u.argument);
        if (u.operator === '!' || u.operator === 'not') return (v) => { const x = arg(v); return isNull(x) ? null : !x; };
        if (u.operator === '-') return (v) => { const x = arg(v); return isNull(x) ? null : -Number(x); };
        throw new ExpressionError(`operator "${u.operator}" is not supported in "${source}"`);
      }
      case 'BinaryExpression': {
        const b = node as jsep.BinaryExpression;
        // `x == null` / `x != null` ask whether x is unknown (SQL's IS [NOT] NULL); every other
        // comparison with an unknown is unknown.
        const isNullLiteral = (n: jsep.Expression) => (n.type === 'Identifier' && (n as jsep.Identifier).name === 'null') || (n.type === 'Literal' && (n as jsep.Literal).value === null);
        if (['==', '===', '!=', '!=='].includes(b.operator) && (isNullLiteral(b.left) || isNullLiteral(b.right))) {
          const other = compile(isNullLiteral(b.left) ? b.right : b.left);
          const wantNull = b.operator === '==' || b.operator === '===';
          return (v) => isNull(other(v)) === wantNull;
        }
        return binary(b.operator, compile(b.left), compile(b.right), source);
      }
      case 'CallExpression': {
        const c = node as jsep.CallExpression;
        if (c.callee.type !== 'Identifier') throw new ExpressionError(`only named functions can be called in "${source}"`);
        const name = (c.callee as jsep.Identifier).name;
        const fn = fns[name];
        if (!fn) throw new ExpressionError(`unknown function "${name}" in "${source}"; known: ${Object.keys(fns).sort().join(', ')}`);
        const args = c.arguments.map(compile);
        return (v) => fn(...args.map((a) => a(v)));
      }
      case 'ConditionalExpression': {
        const c = node as jsep.ConditionalExpression;
        const test = compile(c.test), yes = compile(c.consequent), no = compile(c.alternate);
        return (v) => (test(v) === true ? yes(v) : no(v));
      }
      default:
        throw new ExpressionError(`"${node.type}" is not allowed in "${source}"`);
    }
  };
  return compile(parseExpression(source));
}

function binary(op: string, l: Compiled, r: Compiled, source: string): Compiled {
  switch (op) {
    case '&&': case 'and':
      return (v) => { const a = l(v); if (a === false) return false; const b = r(v); if (b === false) return false; return isNull(a) || isNull(b) ? null : true; };
    case '||': case 'or':
      return (v) => { const a = l(v); if (a === true) return true; const b = r(v); if (b === true) return true; return isNull(a) || isNull(b) ? null : false; };
    case 'in':
      return (v) => { const a = l(v), list = r(v); return isNull(a) || !Array.isArray(list) ? null : list.includes(a); };
  }
  const cmp: Record<string, (a: any, b: any) => unknown> = {
    '==': (a, b) => a === b, '===': (a, b) => a === b, '!=': (a, b) => a !== b, '!==': (a, b) => a !== b,
    '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b,
    '+': (a, b) => a + b, '-': (a, b) => a - b, '*': (a, b) => a * b, '/': (a, b) => (b === 0 ? null : a / b),
  };
  const f = cmp[op];
  if (!f) throw new ExpressionError(`operator "${op}" is not supported in "${source}"`);
  return (v) => {
    const a = l(v), b = r(v);
    if (isNull(a) || isNull(b)) return null;
    return f(a, b);
  };
}

/** Only `true` satisfies a condition; unknown does not. */
export function holds(result: unknown): boolean { return result === true; }
