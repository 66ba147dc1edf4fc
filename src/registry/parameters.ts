// A registry's declared parameters (`parameters.yaml`, optional): values the registry sets rather
// than the platform, such as clinically relevant thresholds per fracture type, used by the
// expressions as `parameter(id)` or `parameter(id, key)`. Each says whether the registry has set it
// (`status: set`) or whether its values only stand in until it does (`status: pending`), and where
// the values come from; whatever uses a pending parameter can say its results are provisional.
import fs from 'node:fs';
import path from 'node:path';
import type jsep from 'jsep';
import YAML from 'yaml';
import { z } from 'zod';
import { parseExpression, type RegistryFunction } from './expr.ts';
import { text } from './schema.ts';

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'use lower-case letters, digits and _ (starting with a letter)');
const scalar = z.union([z.number(), z.string(), z.boolean()]);

export const parameterSchema = z
  .object({
    id,
    title: text,
    description: text,
    /** pending: the values stand in (e.g. the demo's) until the registry sets them; set: the registry's own. */
    status: z.enum(['pending', 'set']),
    /** A variable whose value picks the value (e.g. the fracture type); without it the parameter is one value. */
    keyedBy: id.optional(),
    unit: z.string().optional(),
    /** By key (the keyedBy variable's value), or one value. A key not listed has no value (unknown). */
    values: z.union([z.record(z.string(), scalar), scalar]),
    /** Where the values come from (a study, a decision of the registry), or why they stand in. */
    source: z.string().min(1),
  })
  .strict()
  .superRefine((p, ctx) => {
    const keyed = typeof p.values === 'object';
    if (keyed !== Boolean(p.keyedBy))
      ctx.addIssue({
        code: 'custom',
        path: ['values'],
        message: keyed ? 'values by key need keyedBy (the variable whose value is the key)' : 'with keyedBy, give values by key',
      });
  });
export type ParameterDef = z.output<typeof parameterSchema>;

export const parametersFileSchema = z.object({ parameters: z.array(parameterSchema) }).strict();

export function loadParameters(dir: string, problems: string[]): Map<string, ParameterDef> {
  const file = path.join(dir, 'parameters.yaml');
  const out = new Map<string, ParameterDef>();
  if (!fs.existsSync(file)) return out;
  const rel = path.relative(process.cwd(), file);
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return out;
  }
  const parsed = parametersFileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${rel}: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`);
    return out;
  }
  for (const [i, p] of parsed.data.parameters.entries()) {
    if (out.has(p.id)) problems.push(`${rel}: parameters[${i}] (${p.id}): id is used twice`);
    out.set(p.id, p);
  }
  return out;
}

/** `parameter(id)` / `parameter(id, key)`: the declared value, or unknown (null) for a key without one. */
export function parameterFunction(params: Map<string, ParameterDef>): RegistryFunction {
  return (name, key) => {
    const p = params.get(String(name));
    if (!p) return null;
    if (typeof p.values !== 'object') return p.values;
    if (key === null || key === undefined || key === '') return null;
    return (p.values as Record<string, string | number | boolean>)[String(key)] ?? null;
  };
}

/** Every call of parameter() names a declared parameter by a literal, with a key exactly when it is keyed; keyedBy names a variable. */
export function checkParameterUse(
  params: Map<string, ParameterDef>,
  expressions: Array<{ source: string; where: string }>,
  variables: Set<string>,
  file: string,
  problems: string[],
): void {
  for (const p of params.values())
    if (p.keyedBy && !variables.has(p.keyedBy)) problems.push(`${file}: ${p.id}.keyedBy: unknown variable "${p.keyedBy}"`);
  for (const { source, where } of expressions) {
    let tree: jsep.Expression;
    try {
      tree = parseExpression(source);
    } catch {
      continue;
    } // reported by the compiler
    const walk = (node: unknown): void => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) {
        node.forEach(walk);
        return;
      }
      const n = node as jsep.Expression;
      if (
        n.type === 'CallExpression' &&
        (n as jsep.CallExpression).callee.type === 'Identifier' &&
        ((n as jsep.CallExpression).callee as jsep.Identifier).name === 'parameter'
      ) {
        const args = (n as jsep.CallExpression).arguments;
        const first = args[0] as jsep.Literal | undefined;
        if (!first || first.type !== 'Literal' || typeof first.value !== 'string')
          problems.push(`${where}: parameter() takes the parameter's id as a quoted name first`);
        else if (!params.has(first.value))
          problems.push(
            `${where}: parameter "${first.value}" is not declared in ${file}${params.size ? ` (declared: ${[...params.keys()].join(', ')})` : ''}`,
          );
        else if ((args.length === 2) !== Boolean(params.get(first.value)!.keyedBy))
          problems.push(
            `${where}: parameter "${first.value}" ${params.get(first.value)!.keyedBy ? `is keyed by ${params.get(first.value)!.keyedBy}: give the key as the second argument` : 'has one value: give no key'}`,
          );
      }
      for (const [k, v] of Object.entries(n)) if (k !== 'type') walk(v);
    };
    walk(tree);
  }
}

/** The parameters an expression uses (to mark what depends on pending values). */
export function parametersUsed(source: string): string[] {
  const found = new Set<string>();
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach(walk);
      return;
    }
    const n = node as jsep.Expression;
    if (n.type === 'CallExpression' && ((n as jsep.CallExpression).callee as jsep.Identifier).name === 'parameter') {
      const first = (n as jsep.CallExpression).arguments[0] as jsep.Literal | undefined;
      if (first?.type === 'Literal' && typeof first.value === 'string') found.add(first.value);
    }
    for (const [k, v] of Object.entries(n)) if (k !== 'type') walk(v);
  };
  try {
    walk(parseExpression(source));
  } catch {
    /* reported elsewhere */
  }
  return [...found];
}
