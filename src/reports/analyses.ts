// A registry's declared analyses (`registries/<id>/analyses.yaml`): a variable of the analytics
// table counted by another, as a chart, for one year and one unit (with its sub-units). The counts
// come from the year's tables (analysis-tables.ts: every unit at once, through the door as the
// platform), where disclosure control has withheld small counts and what would give them away.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { PersonData } from '../access/door.ts';
import { analyticsColumns } from '../analytics/columns.ts';
import { columnTypes } from '../indicators/load.ts';
import { compileToSql } from '../registry/expr-sql.ts';
import { DefinitionError, type Registry } from '../registry/load.ts';
import type { VariableType } from '../registry/schema.ts';
import { MARGIN } from '../disclosure/counts.ts';
import type { YearTables } from './analysis-tables.ts';
import type { Figure, Lang, Row } from './charts.ts';
import { KvalregError } from '../errors.ts';

const text = z.object({ nb: z.string(), en: z.string() });
const analysisSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]*$/, 'ids are lower case letters, digits and hyphens'),
    reference: z.string().optional(),
    title: text,
    description: text,
    chart: z.enum(['grouped-bars', 'histogram']),
    x: z.string(),
    bin: z.object({ width: z.number().int().min(1), max: z.number().int().min(1) }).optional(),
    by: z.string().optional(),
    /** Which cases: an expression over the analytics table's columns (e.g. care_setting == 'emergency'). */
    where: z.string().optional(),
    /** count; incidence per N inhabitants; or the median of a numeric column (the count beside it). */
    measure: z
      .union([
        z.literal('count'),
        z.object({ incidence: z.object({ per: z.number().int().min(1) }) }).strict(),
        z.object({ median: z.string() }).strict(),
      ])
      .default('count'),
    suppress: z.object({ atOrBelow: z.number().int().min(0) }).optional(),
    note: text.optional(),
    xLabel: text,
    yLabel: text,
  })
  .strict();
const fileSchema = z
  .object({
    periodDate: z.string(),
    labels: z.record(z.string(), z.record(z.string(), text)).default({}),
    analyses: z.array(analysisSchema),
  })
  .strict();

export type AnalysisDef = z.infer<typeof analysisSchema>;
export interface Analyses {
  periodDate: string;
  /** Display labels per column and value: those declared in analyses.yaml, then the code lists' displays. */
  labels: Record<string, Record<string, { nb: string; en: string }>>;
  list: AnalysisDef[];
  types: Map<string, VariableType>;
}

export function loadAnalyses(registry: Registry): Analyses {
  const file = path.join(registry.dir, 'analyses.yaml');
  if (!fs.existsSync(file)) return { periodDate: 'case_created_at', labels: {}, list: [], types: new Map() };
  const rel = path.relative(process.cwd(), file);
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DefinitionError([`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) throw new DefinitionError(parsed.error.issues.map((i) => `${rel}: ${i.path.join('.') || '(top)'}: ${i.message}`));
  const cols = new Map(analyticsColumns(registry).map((c) => [c.name, c]));
  const types = columnTypes(registry);
  const problems: string[] = [];
  const d = parsed.data;
  const dateCol = cols.get(d.periodDate);
  if (!dateCol || (dateCol.type !== 'date' && dateCol.type !== 'datetime'))
    problems.push(`${rel}: periodDate: "${d.periodDate}" is not a date column of the analytics table`);
  const ids = new Set<string>();
  d.analyses.forEach((a, i) => {
    const where = `${rel}: analyses[${i}] (${a.id})`;
    if (ids.has(a.id)) problems.push(`${where}: id is used twice`);
    ids.add(a.id);
    for (const [k, v] of [
      ['x', a.x],
      ['by', a.by],
    ] as const)
      if (v !== undefined && !cols.has(v))
        problems.push(`${where}: ${k}: "${v}" is not a column of the analytics table (known: derived and form variables, sex, birth_date)`);
    if (a.bin && cols.get(a.x) && !['integer', 'decimal'].includes(cols.get(a.x)!.type))
      problems.push(`${where}: bin needs a numeric x; "${a.x}" is ${cols.get(a.x)!.type}`);
    if (a.chart === 'histogram' && !a.bin) problems.push(`${where}: a histogram needs bin: { width, max }`);
    if (typeof a.measure === 'object' && 'median' in a.measure) {
      const m = cols.get(a.measure.median);
      if (!m || !['integer', 'decimal'].includes(m.type))
        problems.push(`${where}: measure.median: "${a.measure.median}" is not a numeric column of the analytics table`);
    }
    if (a.where) {
      try {
        whereSql(a, types, () => '$0');
      } catch (err) {
        problems.push(`${where}: where: ${(err as Error).message}`);
      }
    }
    if (typeof a.measure === 'object' && 'incidence' in a.measure && a.x !== 'age_group_ssb' && a.by !== 'age_group_ssb') {
      problems.push(
        `${where}: incidence is computed against the population table, which is by Statistics Norway age group: x or by must be age_group_ssb`,
      );
    }
  });
  if (problems.length) throw new DefinitionError(problems);
  // Coded columns are shown by their code list's displays unless the file says otherwise.
  const labels: Analyses['labels'] = {};
  for (const c of cols.values()) {
    const list = c.codelist ? registry.codelists.get(c.codelist) : undefined;
    if (list) labels[c.name] = Object.fromEntries(list.codes);
  }
  for (const [col, values] of Object.entries(d.labels)) labels[col] = { ...labels[col], ...values };
  return { periodDate: d.periodDate, labels, list: d.analyses, types };
}

/** The analysis's `where` as SQL over alias t, its literals as parameters; TRUE without one. */
export function whereSql(a: AnalysisDef, types: Map<string, VariableType>, param: (v: unknown) => string): string {
  if (!a.where) return 'TRUE';
  return compileToSql(a.where, { columns: types, alias: 't', param, asOf: 'CURRENT_DATE' });
}

export interface AnalysisQuery {
  year: string;
  unit: string;
  dataset: 'fresh' | 'qa';
  lang: Lang;
  unitName: string;
  /** The units whose catchment population counts for `unit` (its trust, or every trust under it). */
  areaUnits: string[];
}

/** Natural order: "5" < "11" < "23", "0-4" < "5-9" < "10-14", "67+" last among numbers. */
export function naturalCompare(a: string, b: string): number {
  const na = parseFloat(a),
    nb = parseFloat(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
  return a.localeCompare(b, 'nb');
}

const PLATFORM = { kind: 'platform', task: 'reports' } as const;

/** The SQL for an analysis's x value as text: the column, or the lower edge of its bin. */
export function xExpression(a: AnalysisDef): string {
  return a.bin ? `least(floor(t."${a.x}" / ${a.bin.width}) * ${a.bin.width}, ${a.bin.max})::int::text` : `t."${a.x}"::text`;
}

/** A bin's label from its lower edge: "5-9", the last one "100+". */
export function binLabelOf(a: AnalysisDef, x: string): string {
  if (!a.bin) return x;
  const lo = Number(x);
  return lo >= a.bin.max ? `${lo}+` : `${lo}-${lo + a.bin.width - 1}`;
}

/** The x categories in order: every bin, or the values seen in natural order. */
export function categoriesOf(a: AnalysisDef, seen: string[]): string[] {
  if (!a.bin) return [...new Set(seen)].sort(naturalCompare);
  const out: string[] = [];
  for (let lo = 0; lo <= a.bin.max; lo += a.bin.width) out.push(binLabelOf(a, String(lo)));
  return out;
}

/**
 * One analysis for a year and unit: counts (or incidence, or medians) per x and group, from the
 * year's tables (analysis-tables.ts), where disclosure control has decided every cell for every
 * unit together: a withheld cell is shown as withheld, and so is its rate or median; the figure's
 * total and the count of cases missing a value are said only when shown.
 */
export async function computeAnalysis(
  data: PersonData,
  registry: Registry,
  analyses: Analyses,
  a: AnalysisDef,
  q: AnalysisQuery,
  tables: YearTables,
): Promise<Figure> {
  const l = q.lang;
  const threshold = registry.meta.smallCountThreshold;
  let population: Map<string, number> | null = null;
  let per = 1;
  const median = typeof a.measure === 'object' && 'median' in a.measure ? a.measure.median : null;
  if (typeof a.measure === 'object' && 'incidence' in a.measure) {
    per = a.measure.incidence.per;
    population = await data.transaction(
      PLATFORM,
      'reports:population',
      async (tx) => {
        const res = await tx.client.query(
          `SELECT age_group, sex, sum(population)::int AS p FROM population WHERE year = $1 AND area_resh = ANY($2) GROUP BY 1, 2`,
          [Number(q.year), q.areaUnits],
        );
        const m = new Map<string, number>();
        for (const r of res.rows) m.set(`${r.age_group}|${r.sex}`, (m.get(`${r.age_group}|${r.sex}`) ?? 0) + (r.p as number));
        return m;
      },
      { readOnly: true },
    );
    if (population.size === 0) {
      throw new AnalysisError(
        l === 'nb'
          ? `Ingen befolkningstall for ${q.unitName} i ${q.year}: insidens kan bare beregnes for et område med befolkningstall (population.csv).`
          : `No population figures for ${q.unitName} in ${q.year}: incidence can only be computed for an area with population figures (population.csv).`,
      );
    }
  }

  const labelOf = (variable: string | undefined, value: string) =>
    (variable ? analyses.labels[variable]?.[value]?.[l] : undefined) ?? value;
  const seenX = tables.xsAt(a.id, q.unit);
  const codes = categoriesOf(
    a,
    seenX.map((x) => binLabelOf(a, x)),
  );
  const rawOf = new Map(seenX.map((x) => [binLabelOf(a, x), x]));
  // A bin with no cases has no raw value: its lower edge is the label's first number.
  const raw = (label: string) => rawOf.get(label) ?? (a.bin ? String(parseInt(label, 10)) : label);
  const seenG = tables.groupsAt(a.id, q.unit);
  const groupKeys = a.by ? [...new Set([...Object.keys(analyses.labels[a.by] ?? {}), ...seenG])].sort(naturalCompare) : [''];
  // Declared labels first, in their declared order (e.g. women, then men).
  const declared = a.by ? Object.keys(analyses.labels[a.by] ?? {}) : [];
  groupKeys.sort(
    (x, y) =>
      (declared.indexOf(x) === -1 ? 99 : declared.indexOf(x)) - (declared.indexOf(y) === -1 ? 99 : declared.indexOf(y)) ||
      naturalCompare(x, y),
  );
  const present = a.by ? groupKeys.filter((g) => seenG.includes(g) || declared.includes(g)) : groupKeys;

  const popFor = (x: string, g: string): number | null => {
    if (!population) return null;
    const ageGroup = a.x === 'age_group_ssb' ? x : g;
    const other = a.x === 'age_group_ssb' ? g : x;
    if (other === '') return (population.get(`${ageGroup}|male`) ?? 0) + (population.get(`${ageGroup}|female`) ?? 0);
    return population.get(`${ageGroup}|${other}`) ?? null;
  };

  const data_: Row[] = [];
  let withheld = 0;
  for (const x of codes) {
    for (const g of present) {
      const c = tables.cell(a.id, q.unit, raw(x), g);
      const sup = c.withheld !== null;
      if (sup) withheld += 1;
      const row: Row = { [a.x]: labelOf(a.x, x) };
      if (a.by) row[a.by] = labelOf(a.by, g);
      row.count = sup ? null : c.n;
      if (median) row.median = sup ? null : c.median;
      if (population) {
        const p = popFor(x, g);
        row.population = p;
        row.rate = sup || !p ? null : Math.round((c.n / p) * per * 10) / 10;
      }
      row.suppressed = sup;
      data_.push(row);
    }
  }
  // One sentence whatever the mix: which withheld group is small and which protects it is not said
  // (knowing it narrows them down).
  const notes: string[] = [];
  if (a.note) notes.push(a.note[l]);
  if (withheld) {
    notes.push(
      a.note
        ? l === 'nb'
          ? 'Grupper som ville avsløre dem, er heller ikke vist.'
          : 'Nor are groups that would give them away.'
        : l === 'nb'
          ? `Grupper med færre enn ${threshold}, og grupper som ville avsløre dem, er ikke vist.`
          : `Groups with fewer than ${threshold}, and groups that would give them away, are not shown.`,
    );
  }
  const missing = tables.missing(a.id, q.unit);
  if (missing.n > 0) {
    const what = `${a.x}${a.by ? (l === 'nb' ? ` eller ${a.by}` : ` or ${a.by}`) : ''}`;
    notes.push(
      missing.withheld === null
        ? l === 'nb'
          ? `${missing.n} registreringer mangler ${what} og er ikke med.`
          : `${missing.n} cases lack ${what} and are not included.`
        : l === 'nb'
          ? `Noen registreringer mangler ${what} og er ikke med.`
          : `Some cases lack ${what} and are not included.`,
    );
  }
  const total = tables.cell(a.id, q.unit, MARGIN, MARGIN);
  const cases = registry.meta.caseName?.[l] ?? (l === 'nb' ? 'registreringer' : 'cases');
  const columns = [
    { key: a.x, label: a.xLabel[l], format: 'text' as const },
    ...(a.by
      ? [
          {
            key: a.by,
            label:
              a.by === 'sex' ? (l === 'nb' ? 'Kjønn' : 'Sex') : a.by === 'age_group' ? (l === 'nb' ? 'Aldersgruppe' : 'Age group') : a.by,
            format: 'text' as const,
          },
        ]
      : []),
    { key: 'count', label: l === 'nb' ? 'Antall' : 'Count', format: 'number' as const },
    ...(median ? [{ key: 'median', label: a.yLabel[l], format: 'decimal' as const }] : []),
    ...(population
      ? [
          { key: 'population', label: l === 'nb' ? 'Befolkning' : 'Population', format: 'number' as const },
          {
            key: 'rate',
            label: l === 'nb' ? `Per ${per.toLocaleString('nb-NO')}` : `Per ${per.toLocaleString('en-GB')}`,
            format: 'decimal' as const,
          },
        ]
      : []),
  ];
  return {
    spec: {
      kind: a.chart,
      lang: l,
      title: `${a.title[l]} – ${q.unitName} ${q.year}`,
      description:
        total.withheld === null && total.n > 0
          ? `${a.description[l]} ${l === 'nb' ? 'I alt' : 'In all'} ${total.n} ${cases}.`
          : a.description[l],
      ...(notes.length ? { note: notes.join(' ') } : {}),
      columns,
      encoding: {
        x: a.x,
        ...(a.by ? { group: a.by } : {}),
        value: median ? 'median' : population ? 'rate' : 'count',
        suppressed: 'suppressed',
      },
      categories: codes.map((x) => labelOf(a.x, x)),
      groups: a.by ? present.map((g) => ({ key: labelOf(a.by, g), label: labelOf(a.by, g) })) : [],
      xLabel: a.xLabel[l],
      yLabel: a.yLabel[l],
      yFormat: population || median ? 'decimal' : 'number',
    },
    data: data_,
  };
}

export class AnalysisError extends KvalregError {
  constructor(message: string) {
    super('unprocessable', message);
  }
}
