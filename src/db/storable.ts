// Text PostgreSQL cannot store. A JSON string may hold any UTF-16 code unit, escaped, but
// PostgreSQL's text cannot hold U+0000, and its jsonb refuses both "\u0000" and a surrogate
// that is not half of a pair ("\ud800" alone). Such input passes JSON.parse and then fails deep in
// a statement, as an internal error; found here first, it is the sender's error with a path.

/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export type Unstorable = 'nul' | 'lone-surrogate';

/** What is wrong with a string, if anything. */
export function unstorableIn(s: string): Unstorable | undefined {
  if (s.includes('\u0000')) return 'nul';
  if (LONE_SURROGATE.test(s)) return 'lone-surrogate';
  return undefined;
}

export interface UnstorableAt {
  /** Where: `root.a[2].b`, the path of the string (or of the object whose property name it is). */
  path: string;
  problem: Unstorable;
  /** True when the property name, not the value, is the problem. */
  inName: boolean;
}

/**
 * The first string (value or property name) in a parsed JSON value that PostgreSQL cannot store,
 * with its path from `root` (e.g. `Bundle.entry[1].resource.note[0].text`). Iterative: a hostile
 * body may be deeply nested.
 */
export function findUnstorable(value: unknown, root: string): UnstorableAt | undefined {
  const stack: Array<[unknown, string]> = [[value, root]];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'string') {
      const problem = unstorableIn(node);
      if (problem) return { path, problem, inName: false };
    } else if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push([node[i], `${path}[${i}]`]);
    } else if (node && typeof node === 'object') {
      const entries = Object.entries(node);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i];
        const problem = unstorableIn(k);
        if (problem) return { path, problem, inName: true };
        stack.push([v, `${path}.${k}`]);
      }
    }
  }
  return undefined;
}

/** Words for a message: what the problem is and what to do. */
export function describeUnstorable(u: UnstorableAt): string {
  const what = u.inName ? `A property name in ${u.path}` : u.path;
  return u.problem === 'nul'
    ? `${what} contains a NUL character (\\u0000), which no stored text may hold. Remove it and send again.`
    : `${what} contains a lone UTF-16 surrogate (such as \\ud800): half of a character, which is not text and cannot be stored. ` +
        'The sending program cut a character in two (or encoded it wrongly); fix the text and send again.';
}
