// Loads a registry's indicator declarations and checks every expression against the analytics
// table's columns, in JavaScript (for explanations) and in SQL (for the computation), so that a
// definition error is reported at start with file, indicator and problem, never during a run.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { analyticsColumns } from '../analytics/columns.ts';
import { compileExpression, ExpressionError, expressionVariables, type Compiled } from '../registry/expr.ts';
import { parametersUsed } from '../registry/parameters.ts';
import { compileToSqlTyped } from '../registry/expr-sql.ts';
import { DefinitionError, type Registry } from '../registry/load.ts';
import type { VariableType } from '../registry/schema.ts';
import { indicatorsFileSchema, type IndicatorDef } from './schema.ts';

export interface IndicatorPart {
  label: { nb: string; en: string } | null;
  denominator: string;
  numerator: string;
}

export interface Indicator {
  registry: string;
  def: IndicatorDef;
  /** The denominator as one or more counts added together (one part unless declared with parts). */
  parts: IndicatorPart[];
  /** Denominators under this are withheld ("too few"): the declared minimum, never under the registry's threshold. */
  minimumDenominator: number;
  /** Disclosure control: the registry's small-count threshold, and whether numerators under it are shown (declared per indicator). */
  disclosure: { threshold: number; numerator: 'suppress' | 'show' };
  /** Registry parameters (parameters.yaml) the definition depends on that are still pending: its results are provisional. */
  pendingParameters: Array<{ id: string; title: { nb: string; en: string } }>;
  /** JavaScript versions of the predicates, evaluated on an analytics row (for explanations). */
  js: {
    population: Compiled | undefined;
    exclusions: Compiled | undefined;
    parts: Array<{ denominator: Compiled; numerator: Compiled }>;
    numeratorCount: Compiled | undefined;
  };
}

export function columnTypes(registry: Registry): Map<string, VariableType> {
  return new Map(analyticsColumns(registry).map((c) => [c.name, c.type]));
}

export function loadIndicators(registry: Registry): Indicator[] {
  const file = path.join(registry.dir, 'indicators.yaml');
  if (!fs.existsSync(file)) return [];
  const rel = path.relative(process.cwd(), file);
  const problems: string[] = [];
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DefinitionError([`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = indicatorsFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new DefinitionError(parsed.error.issues.map((i) => `${rel}: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`));
  }
  const types = columnTypes(registry);
  const names = new Set(types.keys());
  const seen = new Set<string>();
  const out: Indicator[] = [];
  parsed.data.indicators.forEach((def, i) => {
    const where = `${rel}: indicators[${i}] (${def.id})`;
    if (seen.has(def.id)) problems.push(`${where}: id is used twice`);
    seen.add(def.id);
    const check = (source: string | undefined, field: string, want: 'boolean' | 'number' = 'boolean'): Compiled | undefined => {
      if (source === undefined) return undefined;
      try {
        const { type } = compileToSqlTyped(source, { columns: types, alias: 'a', param: () => '$1', asOf: '$2' });
        if (type !== want && type !== 'null')
          throw new ExpressionError(
            `"${source}" gives ${type === 'number' ? 'a number' : type}; ${want === 'boolean' ? 'a condition' : 'a number'} is needed here`,
          );
        return compileExpression(source, { variables: names, types });
      } catch (err) {
        problems.push(`${where}.${field}: ${err instanceof ExpressionError ? err.message : String(err)}`);
        return undefined;
      }
    };
    if (types.get(def.periodDate) !== 'date' && types.get(def.periodDate) !== 'datetime')
      problems.push(`${where}.periodDate: "${def.periodDate}" is not a date variable of the codebook`);
    const threshold = registry.meta.smallCountThreshold;
    if (def.minimumDenominator !== undefined && def.minimumDenominator < threshold) {
      problems.push(
        `${where}.minimumDenominator: ${def.minimumDenominator} is under the registry's smallCountThreshold (${threshold}); a denominator under the threshold is never shown — remove minimumDenominator or make it at least ${threshold}`,
      );
    }
    for (const s of def.stratifiers)
      if (!types.has(s) && !def.countStrata?.[s])
        problems.push(`${where}.stratifiers: unknown variable "${s}" (a column of the analytics table, or a key of countStrata)`);
    for (const [s, strata] of Object.entries(def.countStrata ?? {})) {
      for (const [stratum, source] of Object.entries(strata)) check(source, `countStrata.${s}.${stratum}`, 'number');
    }
    const parts: IndicatorPart[] = def.parts
      ? def.parts.map((p) => ({ label: p.label, denominator: p.denominator, numerator: p.numerator }))
      : def.numerator && def.denominator
        ? [{ label: null, denominator: def.denominator, numerator: def.numerator }]
        : [];
    const js = {
      population: check(def.population, 'population'),
      exclusions: check(def.exclusions, 'exclusions'),
      parts: parts.map((p, k) => ({
        denominator: check(p.denominator, `parts[${k}].denominator`)!,
        numerator: check(p.numerator, `parts[${k}].numerator`)!,
      })),
      numeratorCount: check(def.numeratorCount, 'numeratorCount', 'number'),
    };
    const pendingParameters = parametersBehind(registry, [
      def.population,
      def.exclusions,
      def.numeratorCount,
      ...parts.flatMap((p) => [p.denominator, p.numerator]),
    ])
      .map((p) => registry.parameters.get(p))
      .filter((p) => p?.status === 'pending')
      .map((p) => ({ id: p!.id, title: p!.title }));
    out.push({
      registry: registry.id,
      def,
      parts,
      js,
      pendingParameters,
      minimumDenominator: Math.max(def.minimumDenominator ?? 0, registry.meta.smallCountThreshold),
      disclosure: { threshold: registry.meta.smallCountThreshold, numerator: def.disclosure?.numerator ?? 'suppress' },
    });
  });
  if (problems.length) throw new DefinitionError(problems);
  return out;
}

/** The parameters expressions depend on, through the derived variables they read (and those read in turn). */
export function parametersBehind(registry: Registry, sources: Array<string | undefined>): string[] {
  const found = new Set<string>(),
    seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const expr = registry.derived.find((d) => d.def.id === name)?.def.expr;
    if (!expr) return;
    for (const p of parametersUsed(expr)) found.add(p);
    for (const v of safeVariables(expr)) visit(v);
  };
  for (const s of sources) if (s) for (const v of safeVariables(s)) visit(v);
  return [...found];
}

function safeVariables(source: string): string[] {
  try {
    return expressionVariables(source);
  } catch {
    return [];
  }
}
