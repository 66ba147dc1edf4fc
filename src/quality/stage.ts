// Stage assessment (stadievurdering): the national requirements as a declaration in the registry's
// folder (`stage.yaml`: number, stage or level, chapter, wording per year, and the evidence the
// platform computes where it can), answers by the registry with a link to evidence for the rest,
// and the draft verdict by the national rule: a stage is reached when every requirement of it
// and of the stages below is met (1–5 give stage 2, 6–11 stage 3, 12–16 stage 4); level A when
// its requirement (17) is met, else B when its (18) is, else C.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { DefinitionError, type Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';

export const EVIDENCE_KINDS = [
  'answer',
  'data-all-regions',
  'indicators-national',
  'indicators-interactive',
  'unit-results',
  'completeness-documented',
  'coverage-60',
  'coverage-80',
  'correctness-documented',
  'prom-units',
  'annual-report',
] as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

const requirement = z
  .object({
    nr: z.number().int().min(1),
    stage: z.union([z.literal(2), z.literal(3), z.literal(4)]).optional(),
    level: z.enum(['A', 'B']).optional(),
    chapter: z.string().default(''),
    /** The wording by the year it took effect: the newest at or before the assessed year is used. */
    text: z
      .record(z.string().regex(/^\d{4}$/), z.string().min(1))
      .refine((t) => Object.keys(t).length > 0, { message: 'give the wording for at least one year' }),
    evidence: z.enum(EVIDENCE_KINDS).default('answer'),
  })
  .strict()
  .refine((r) => Boolean(r.stage) !== Boolean(r.level), { message: 'give either stage (2, 3, 4) or level (A, B)' });

export const stageSchema = z
  .object({
    source: z.string().optional(),
    requirements: z.array(requirement).min(1),
    /** The registry's own answers by year, as published in its annual reports (answers given on the page come on top). */
    answers: z.record(z.string().regex(/^\d{4}$/), z.record(z.string().regex(/^\d+$/), z.boolean())).default({}),
  })
  .strict();
export type StageDef = z.infer<typeof stageSchema>;

export function loadStageDef(registry: Registry): StageDef | null {
  const file = path.join(registry.dir, 'stage.yaml');
  if (!fs.existsSync(file)) return null;
  const rel = path.relative(process.cwd(), file);
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DefinitionError([`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = stageSchema.safeParse(raw);
  if (!parsed.success)
    throw new DefinitionError(parsed.error.issues.map((i) => `${rel}: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`));
  const seen = new Set<number>();
  for (const r of parsed.data.requirements) {
    if (seen.has(r.nr)) throw new DefinitionError([`${rel}: requirement ${r.nr} is declared twice`]);
    seen.add(r.nr);
  }
  return parsed.data;
}

export interface Evidence {
  value: boolean | null;
  detail: string;
}
export interface Answer {
  answer: boolean;
  evidence: string;
  note: string;
  actor: string;
  at: string;
}
export interface StageItem {
  nr: number;
  stage: number | null;
  level: 'A' | 'B' | null;
  chapter: string;
  text: string;
  evidenceKind: EvidenceKind;
  /** What the platform found (null: it cannot tell, or the requirement is answered by the registry). */
  computed: Evidence | null;
  answer: Answer | null;
  met: boolean;
}
export interface StageAssessment {
  registry: string;
  year: number;
  items: StageItem[];
  stage: number;
  level: 'A' | 'B' | 'C';
  verdict: string;
}

/** The rule: the highest stage all of whose requirements (and those of the stages below) are met; the level by its requirement. */
export function stageVerdict(items: Array<Pick<StageItem, 'stage' | 'level' | 'met'>>): {
  stage: number;
  level: 'A' | 'B' | 'C';
  verdict: string;
} {
  let stage = 1;
  for (const s of [2, 3, 4]) {
    const needed = items.filter((i) => i.stage !== null && i.stage <= s);
    if (needed.length && needed.every((i) => i.met)) stage = s;
    else break;
  }
  const levelMet = (l: 'A' | 'B') => {
    const x = items.filter((i) => i.level === l);
    return x.length > 0 && x.every((i) => i.met);
  };
  const level = levelMet('A') ? 'A' : levelMet('B') ? 'B' : 'C';
  return { stage, level, verdict: `${stage}${level}` };
}

export function wordingFor(text: Record<string, string>, year: number): string {
  const years = Object.keys(text)
    .map(Number)
    .sort((a, b) => a - b);
  const y = years.filter((x) => x <= year).pop() ?? years[0];
  return text[String(y)];
}

export interface EvidenceContext {
  tx: PersonTx;
  registry: Registry;
  units: UnitTree;
  year: number;
  periodSql: string | null;
  activeIndicators: number;
  coverage: (year: number) => number | null;
  coverageLow: number;
}

/** The evidence the platform can compute for a requirement of the given kind. */
export async function computeEvidence(kind: EvidenceKind, c: EvidenceContext): Promise<Evidence | null> {
  const q = async (sql: string, params: unknown[]) => (await c.tx.client.query(sql, params)).rows[0];
  const inYear = c.periodSql ? `extract(year FROM ${c.periodSql}) = $1` : 'FALSE';
  switch (kind) {
    case 'answer':
      return null;
    case 'data-all-regions': {
      const regions = c.units
        .all()
        .filter((u) => u.level === 'region')
        .map((u) => u.resh);
      const r = await q(`SELECT count(DISTINCT a.unit_path[2])::int AS n FROM ${analyticsTable(c.registry)} a WHERE ${inYear}`, [c.year]);
      return {
        value: regions.length > 0 && r.n >= regions.length,
        detail: `registreringer fra ${r.n} av ${regions.length} helseregioner i ${c.year}`,
      };
    }
    case 'indicators-national':
    case 'indicators-interactive':
    case 'unit-results': {
      const r = await q(
        `SELECT count(DISTINCT indicator)::int AS n, count(DISTINCT unit_resh)::int AS units FROM indicator_result WHERE registry = $1 AND grain = 'year' AND period = $2 AND denominator > 0`,
        [c.registry.id, String(c.year)],
      );
      const detail =
        kind === 'unit-results'
          ? `${r.n} indikatorer beregnet for ${r.units} enheter; hver enhet ser egne resultater ved siden av landets i nettløsningen, enhetsrapporter og abonnement`
          : kind === 'indicators-national'
            ? `${r.n} av ${c.activeIndicators} aktive indikatorer beregnet nasjonalt for ${c.year}`
            : `${r.n} indikatorer presentert interaktivt i nettløsningen, beregnet fortløpende (hver dag)`;
      return { value: c.activeIndicators > 0 && r.n > 0 && (kind !== 'unit-results' || r.units > 1), detail };
    }
    case 'completeness-documented': {
      if (!c.periodSql) return { value: false, detail: 'registeret har ikke erklært datakvalitet (quality.yaml)' };
      const r = await q(`SELECT count(*)::int AS n FROM ${analyticsTable(c.registry)} a WHERE ${inYear}`, [c.year]);
      return {
        value: r.n > 0,
        detail: `kompletthet av hver variabel målt for ${r.n} registreringer i ${c.year} (datakvalitetssiden og årsrapportens kapittel 4)`,
      };
    }
    case 'coverage-60':
    case 'coverage-80': {
      const min = kind === 'coverage-60' ? 0.6 : 0.8;
      const a = c.coverage(c.year),
        b = c.coverage(c.year - 1);
      if (a === null && b === null) return null;
      const pct = (x: number | null) => (x === null ? 'ikke beregnet' : `${(x * 100).toFixed(1).replace('.', ',')} %`);
      return {
        value: a !== null && b !== null && a >= min && b >= min,
        detail: `nasjonal dekningsgrad mot NPR ${c.year - 1}: ${pct(b)}, ${c.year}: ${pct(a)} (krav ≥ ${min * 100} % begge år)`,
      };
    }
    case 'correctness-documented': {
      const r = await q(
        `SELECT count(DISTINCT s.id)::int AS studies, count(v.case_id)::int AS cases FROM validation_study s JOIN validation_sample v ON v.registry = s.registry AND v.study_id = s.id
        WHERE s.registry = $1 AND s.year > $2 - 5 AND v.abstracted_at IS NOT NULL`,
        [c.registry.id, c.year],
      );
      return {
        value: r.cases > 0,
        detail: `${r.studies} valideringsstudier med ${r.cases} registreringer registrert på nytt fra journal de siste fem årene`,
      };
    }
    case 'prom-units': {
      const r = await q(
        `SELECT count(*)::int AS n, count(DISTINCT c.unit_resh)::int AS units FROM prom_item p JOIN registry_case c ON c.registry = p.registry AND c.id = p.case_id
        WHERE p.registry = $1 AND p.status = 'answered' AND extract(year FROM p.due_date) = $2`,
        [c.registry.id, c.year],
      );
      if (r.n === 0) return null;
      return { value: r.units > 1, detail: `${r.n} PROM-svar fra ${r.units} enheter i ${c.year}` };
    }
    case 'annual-report': {
      const r = await q(`SELECT count(*)::int AS n FROM ${analyticsTable(c.registry)} a WHERE ${inYear}`, [c.year]);
      return {
        value: r.n > 0,
        detail: `årsrapporten for ${c.year} lages fra dataene (kvalreg report annual), med kapitlene om datakvalitet og stadievurdering`,
      };
    }
  }
}
