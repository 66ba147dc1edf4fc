// Simple FHIRPath compiled to plain property access. Most mapping expressions are member paths with
// `where(system = '…' and code != '…')`, `exists()` and `startsWith('…')`; fhirpath.js evaluates
// them through its general machinery (typed nodes, collections of wrappers), which was the largest
// CPU cost of capture after the database. This module compiles that subset, from fhirpath.js's own
// parse tree (one grammar, not two), into closures over plain arrays.
//
// The same answers as fhirpath.js, by construction: the compiled form handles only what it knows
// to mean the same, and on anything else in a resource (an element with an extension on its
// primitive (`_code`), a list where one value belongs, a comparison of a date or a number, two
// choice-type variants at once, …) it gives up for that resource and fhirpath.js evaluates it.
// Expressions outside the subset are not compiled at all. test/fhirpath-simple.test.ts compares
// both on every mapping expression of every registry, on generated messages and random shapes.
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';

const model = r4 as unknown as {
  choiceTypePaths: Record<string, string[]>;
  path2Type: Record<string, string>;
  pathsDefinedElsewhere: Record<string, string>;
};

/** A value with the FHIR type path it has in the model (undefined when the model does not know it). */
interface Item {
  v: unknown;
  t: string | undefined;
}
type Collection = Item[];
/** Evaluates on one focus collection. */
type Eval = (focus: Collection) => Collection;

/** What a compiled expression returns for a resource it does not handle: fhirpath.js takes over. */
export const GIVE_UP: unique symbol = Symbol('give up');

/** Thrown when a resource has a shape the compiled form does not handle: fhirpath.js takes over. */
class GiveUp extends Error {}
const giveUp = new GiveUp();

const PRIMITIVES = new Set([
  'boolean',
  'integer',
  'string',
  'decimal',
  'uri',
  'url',
  'canonical',
  'base64Binary',
  'instant',
  'date',
  'dateTime',
  'time',
  'code',
  'oid',
  'id',
  'markdown',
  'unsignedInt',
  'positiveInt',
  'uuid',
]);
/** Types whose equality with a string literal is plain string equality (dates, times and numbers are not). */
const STRING_TYPES = new Set(['string', 'code', 'uri', 'url', 'canonical', 'oid', 'id', 'markdown', 'uuid']);

/** The type path of element `name` of a value of type path `t`, or of each choice-type variant. */
function childType(t: string | undefined, name: string): { type: string | undefined } | { choices: Array<{ key: string; type: string }> } {
  if (t === undefined) return { type: undefined };
  let p = `${t}.${name}`;
  const choices = model.choiceTypePaths[p];
  if (choices) {
    return {
      choices: choices.map((c) => {
        const lower = c[0].toLowerCase() + c.slice(1);
        return { key: name + c, type: PRIMITIVES.has(lower) ? lower : c };
      }),
    };
  }
  p = model.pathsDefinedElsewhere[p] ?? p;
  const type = model.path2Type[p];
  if (type === undefined) return { type: undefined };
  return { type: type === 'BackboneElement' || type === 'Element' ? p : type };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Appends the value(s) of one element: a list is flattened, nulls are absent; a nested list is not FHIR. */
function pushValue(out: Collection, v: unknown, t: string | undefined): void {
  if (v === undefined || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) {
      if (x === undefined || x === null) continue;
      if (Array.isArray(x)) throw giveUp;
      out.push({ v: x, t });
    }
  } else out.push({ v, t });
}

function member(name: string): Eval {
  const cache = new Map<string | undefined, ReturnType<typeof childType>>();
  return (focus) => {
    const out: Collection = [];
    for (const item of focus) {
      const o = item.v;
      if (!isPlainObject(o)) throw giveUp;
      const t = item.t;
      // A resource inside an element (contained, a Bundle's entry) has its type in itself: not ours.
      if ('resourceType' in o && o.resourceType !== t) throw giveUp;
      let c = cache.get(t);
      if (!c) {
        c = childType(t, name);
        cache.set(t, c);
      }
      if ('choices' in c) {
        let found = 0;
        for (const { key, type } of c.choices) {
          if (`_${key}` in o) throw giveUp;
          if (o[key] !== undefined && o[key] !== null) {
            found++;
            pushValue(out, o[key], type);
          }
        }
        if (found > 1) throw giveUp;
      } else {
        if (`_${name}` in o) throw giveUp;
        pushValue(out, o[name], c.type);
      }
    }
    return out;
  };
}

const TRUE: Collection = [{ v: true, t: 'boolean' }];
const FALSE: Collection = [{ v: false, t: 'boolean' }];
const EMPTY: Collection = [];

/** A singleton boolean's value, or undefined for empty; anything else is not ours to interpret. */
function truth(c: Collection): boolean | undefined {
  if (c.length === 0) return undefined;
  if (c.length === 1 && typeof c[0].v === 'boolean') return c[0].v;
  throw giveUp;
}
const of = (b: boolean | undefined): Collection => (b === undefined ? EMPTY : b ? TRUE : FALSE);

/** Compiled pieces carry whether they always yield a boolean (what `where` and `and`/`or` accept). */
interface Compiled {
  fn: Eval;
  boolean: boolean;
}

class Unsupported extends Error {}

interface AstNode {
  type: string;
  text?: string;
  children?: AstNode[];
}

function only(n: AstNode): AstNode {
  if (!n.children || n.children.length !== 1) throw new Unsupported(n.type);
  return n.children[0];
}

function stringLiteral(n: AstNode): string {
  // TermExpression > LiteralTerm > StringLiteral
  const lit = n.type === 'TermExpression' ? only(n) : n;
  if (lit.type !== 'LiteralTerm') throw new Unsupported('not a literal');
  const s = only(lit);
  if (s.type !== 'StringLiteral' || !s.text || !/^'[^'\\]*'$/.test(s.text)) throw new Unsupported('not a plain string literal');
  return s.text.slice(1, -1);
}

function identifier(n: AstNode): string {
  const id = only(n);
  // A name with an upper-case first letter may be a type (`Condition.code`); quoted names are rare.
  if (id.type !== 'Identifier' || !id.text || !/^[a-z][A-Za-z0-9_]*$/.test(id.text)) throw new Unsupported('identifier');
  return id.text;
}

/** An invocation (member or function) applied to the collection `input` yields. */
function invocation(n: AstNode, input: Eval): Compiled {
  if (n.type === 'MemberInvocation') {
    const m = member(identifier(n));
    return { fn: (focus) => m(input(focus)), boolean: false };
  }
  if (n.type !== 'FunctionInvocation') throw new Unsupported(n.type);
  const f = only(n);
  if (f.type !== 'Functn' || !f.children) throw new Unsupported('function');
  const name = f.children[0].text;
  const params = f.children[1]?.type === 'ParamList' ? (f.children[1].children ?? []) : [];
  if (f.children.length > (params.length ? 2 : 1)) throw new Unsupported('function shape');
  if (name === 'exists' && params.length === 0) {
    return { fn: (focus) => (input(focus).length > 0 ? TRUE : FALSE), boolean: true };
  }
  if (name === 'where' && params.length === 1) {
    const cond = expression(params[0]);
    if (!cond.boolean) throw new Unsupported('where without a boolean condition');
    return { fn: (focus) => input(focus).filter((item) => truth(cond.fn([item])) === true), boolean: false };
  }
  if (name === 'not' && params.length === 0) {
    return {
      fn: (focus) => {
        const b = truth(input(focus));
        return of(b === undefined ? undefined : !b);
      },
      boolean: true,
    };
  }
  if (name === 'ofType' && params.length === 1) {
    // A primitive type name (`performed.ofType(dateTime)`): the items of that type in the model.
    const type = typeName(params[0]);
    return {
      fn: (focus) =>
        input(focus).filter((item) => {
          if (item.t === undefined) throw giveUp;
          return item.t === type;
        }),
      boolean: false,
    };
  }
  if (name === 'startsWith' && params.length === 1) {
    const prefix = stringLiteral(params[0]);
    return {
      fn: (focus) => {
        const c = input(focus);
        if (c.length === 0) return EMPTY;
        if (c.length > 1 || typeof c[0].v !== 'string' || !STRING_TYPES.has(c[0].t ?? '')) throw giveUp;
        return of((c[0].v as string).startsWith(prefix));
      },
      boolean: true,
    };
  }
  throw new Unsupported(`function ${name}`);
}

const identity: Eval = (focus) => focus;

function typeName(n: AstNode): string {
  const term = n.type === 'TermExpression' ? only(n) : n;
  if (term.type !== 'InvocationTerm') throw new Unsupported('type name');
  const name = identifier(only(term));
  if (!PRIMITIVES.has(name)) throw new Unsupported(`ofType(${name})`);
  return name;
}

function expression(n: AstNode): Compiled {
  switch (n.type) {
    case 'EntireExpression':
    case 'TermExpression':
      return expression(only(n));
    case 'ParenthesizedTerm':
      return expression(only(n));
    case 'InvocationTerm': {
      // `$this` (the item `where` is looking at), or a member or function of the focus itself.
      const inv = only(n);
      // Marked boolean so that `where($this)` compiles: whether it is one is checked per item.
      if (inv.type === 'ThisInvocation' && !inv.children?.length) return { fn: identity, boolean: true };
      return invocation(inv, identity);
    }
    case 'UnionExpression': {
      if (n.text !== '|' || !n.children || n.children.length !== 2) throw new Unsupported('union');
      const a = expression(n.children[0]).fn,
        b = expression(n.children[1]).fn;
      // A union removes duplicates by FHIRPath equality (which for dates is not string equality):
      // handled here only when at most one item comes from both sides together.
      return {
        fn: (focus) => {
          const x = a(focus),
            y = b(focus);
          if (x.length + y.length > 1) throw giveUp;
          return x.length ? x : y;
        },
        boolean: false,
      };
    }
    case 'InvocationExpression': {
      if (!n.children || n.children.length !== 2) throw new Unsupported('invocation');
      const left = expression(n.children[0]);
      return invocation(n.children[1], left.fn);
    }
    case 'EqualityExpression': {
      if ((n.text !== '=' && n.text !== '!=') || !n.children || n.children.length !== 2) throw new Unsupported(`equality ${n.text}`);
      const left = expression(n.children[0]).fn;
      const literal = stringLiteral(n.children[1]);
      const negate = n.text === '!=';
      return {
        fn: (focus) => {
          const c = left(focus);
          if (c.length === 0) return EMPTY;
          // Collections of different sizes are not equal.
          if (c.length > 1) return negate ? TRUE : FALSE;
          if (typeof c[0].v !== 'string' || !STRING_TYPES.has(c[0].t ?? '')) throw giveUp;
          return (c[0].v === literal) !== negate ? TRUE : FALSE;
        },
        boolean: true,
      };
    }
    case 'AndExpression':
    case 'OrExpression': {
      if (!n.children || n.children.length !== 2 || (n.text !== 'and' && n.text !== 'or')) throw new Unsupported(`${n.type} ${n.text}`);
      const a = expression(n.children[0]),
        b = expression(n.children[1]);
      if (!a.boolean || !b.boolean) throw new Unsupported('and/or of non-booleans');
      return n.text === 'and'
        ? {
            fn: (focus) => {
              const x = truth(a.fn(focus)),
                y = truth(b.fn(focus));
              return of(x === false || y === false ? false : x === true && y === true ? true : undefined);
            },
            boolean: true,
          }
        : {
            fn: (focus) => {
              const x = truth(a.fn(focus)),
                y = truth(b.fn(focus));
              return of(x === true || y === true ? true : x === false && y === false ? false : undefined);
            },
            boolean: true,
          };
    }
    default:
      throw new Unsupported(n.type);
  }
}

/**
 * The compiled form of `expression` when it is in the simple subset, else undefined. The function
 * gives up (returns `giveUp`) on resources it does not handle; `compileFhirPath` then asks fhirpath.js.
 */
export function compileSimple(expression_: string): ((resource: unknown) => unknown[] | typeof GIVE_UP) | undefined {
  let compiled: Compiled;
  try {
    compiled = expression(fhirpath.parse(expression_) as AstNode);
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  const fn = compiled.fn;
  return (resource) => {
    if (!isPlainObject(resource) || typeof resource.resourceType !== 'string') return GIVE_UP;
    try {
      return fn([{ v: resource, t: resource.resourceType }]).map((i) => i.v);
    } catch (err) {
      if (err === giveUp) return GIVE_UP;
      throw err;
    }
  };
}
