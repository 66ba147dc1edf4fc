// Triage for digital home follow-up. A registry declares in its prom.yaml (`triage:`) which time
// point of which schedule decides, for which cases (e.g. those operated on), and the
// criteria: thresholds on an instrument's score or item, each optionally only for cases of a kind
// (`when`, an expression over the case's values: the type of injury), and the patient's own wish
// for a visit (`request: true`). A patient whose answers meet any criterion lands on the unit's
// follow-up worklist with the reasons and a summary of the answers; the others are marked "no
// visit needed". Answers that cannot be assessed (an instrument not answered, a score that could
// not be computed) and no answer at all put the patient on the worklist too: nobody is left
// unassessed by a silence. A clinician sees both lists and may override, with a reason; every
// decision is history. Nothing here knows an instrument, a registry or a threshold.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { PersonTx } from '../access/door.ts';
import { callerLabel } from '../access/caller.ts';
import { analyticsColumns, analyticsTable } from '../analytics/columns.ts';
import { compileToSqlTyped } from '../registry/expr-sql.ts';
import type { Registry } from '../registry/load.ts';
import { text, type VariableType } from '../registry/schema.ts';
import type { Instrument } from './instruments.ts';
import type { CompiledSchedule } from './schedule.ts';
import { KvalregError } from '../errors.ts';

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _, starting with a letter');
const COMPARISONS = ['above', 'atLeast', 'below', 'atMost', 'equals'] as const;
type Comparison = (typeof COMPARISONS)[number];

const criterionSchema = z
  .object({
    id,
    label: text,
    instrument: z.string().min(1),
    /** A score of the instrument (instrument.yaml), or an item (a linkId of its Questionnaire). */
    score: z.string().min(1).optional(),
    item: z.string().min(1).optional(),
    /** Met when the value is above / at least / below / at most the number, or equals the answer. */
    above: z.number().optional(),
    atLeast: z.number().optional(),
    below: z.number().optional(),
    atMost: z.number().optional(),
    equals: z.union([z.string(), z.number(), z.boolean()]).optional(),
    /** Applies only to cases where this holds (e.g. a fracture type): thresholds per case type. */
    when: z.string().min(1).optional(),
    /** The patient's own wish for a visit: decides at once, whatever else is answered. */
    request: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.score === undefined) === (c.item === undefined)) ctx.addIssue({ code: 'custom', message: 'give either score or item' });
    const given = COMPARISONS.filter((k) => c[k] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({ code: 'custom', message: `give exactly one of ${COMPARISONS.join(', ')} (given: ${given.join(', ') || 'none'})` });
  });

const summarySchema = z
  .object({ instrument: z.string().min(1), score: z.string().min(1).optional(), item: z.string().min(1).optional() })
  .strict()
  .refine((s) => (s.score === undefined) !== (s.item === undefined), 'give either score or item');

export const triageSchema = z
  .object({
    id,
    title: text,
    /** The schedule and time point whose answers decide. */
    schedule: id,
    timepoint: id,
    /** Which cases are triaged (default: every case asked at that time point). */
    population: z.string().min(1).optional(),
    criteria: z.array(criterionSchema).min(1),
    /** What of the answers the worklist shows. */
    summary: z.array(summarySchema).default([]),
    /** Where the thresholds come from. */
    source: z.string().min(1),
    /** false: the thresholds are not from a checked source; the worklist says so. */
    verified: z.boolean().default(true),
    note: z.string().optional(),
  })
  .strict();
export type TriageDef = z.output<typeof triageSchema>;
type CriterionDef = TriageDef['criteria'][number];

export interface CompiledTriage {
  registry: string;
  def: TriageDef;
  populationSql: string;
  /** Per criterion: SQL of its `when` (true when it has none). */
  whenSql: string[];
  params: unknown[];
  instruments: string[];
}

export class TriageDeclarationError extends KvalregError {
  constructor(readonly problems: string[]) {
    super('internal', `PROM triage declarations are invalid:\n  ${problems.join('\n  ')}`, { details: problems });
  }
}

/** The fixed parameters of the evaluation statement; the declarations' own follow. */
const FIXED = 7;

/** Loads and checks the `triage:` part of each registry's prom.yaml against its schedules and the instruments. */
export function loadTriage(registries: Registry[], instruments: Map<string, Instrument>, schedules: CompiledSchedule[]): CompiledTriage[] {
  const problems: string[] = [];
  const out: CompiledTriage[] = [];
  for (const r of registries) {
    const file = path.join(r.dir, 'prom.yaml');
    if (!fs.existsSync(file)) continue;
    const where = path.relative(process.cwd(), file);
    const raw = YAML.parse(fs.readFileSync(file, 'utf8')) as { triage?: unknown };
    if (raw?.triage === undefined) continue;
    const parsed = z.array(triageSchema).safeParse(raw.triage);
    if (!parsed.success) {
      for (const i of parsed.error.issues) problems.push(`${where}: triage.${i.path.join('.')}: ${i.message}`);
      continue;
    }
    const columns = new Map<string, VariableType>(analyticsColumns(r).map((c) => [c.name, c.type]));
    parsed.data.forEach((d, di) => {
      const at = `${where}: triage[${di}] (${d.id})`;
      if (parsed.data.findIndex((x) => x.id === d.id) !== di) problems.push(`${at}: the id is used twice`);
      const schedule = schedules.find((s) => s.registry === r.id && s.def.id === d.schedule);
      if (!schedule) {
        problems.push(`${at}.schedule: no schedule "${d.schedule}" in this prom.yaml`);
        return;
      }
      if (!schedule.def.timepoints.some((t) => t.id === d.timepoint))
        problems.push(`${at}.timepoint: schedule "${d.schedule}" has no time point "${d.timepoint}"`);
      const asked = new Set(schedule.rules.filter((x) => x.at.includes(d.timepoint)).map((x) => x.instrument));
      const checkRef = (ref: { instrument: string; score?: string; item?: string }, field: string) => {
        const inst = instruments.get(ref.instrument);
        if (!inst) {
          problems.push(`${at}.${field}: no instrument "${ref.instrument}"`);
          return;
        }
        if (!asked.has(ref.instrument))
          problems.push(`${at}.${field}: schedule "${d.schedule}" does not ask ${ref.instrument} at ${d.timepoint}`);
        if (ref.score !== undefined && !inst.scores.has(ref.score))
          problems.push(
            `${at}.${field}.score: ${ref.instrument} has no score "${ref.score}" (it has ${[...inst.scores.keys()].join(', ')})`,
          );
        if (ref.item !== undefined && !inst.items.has(ref.item))
          problems.push(`${at}.${field}.item: ${ref.instrument} has no item "${ref.item}"`);
      };
      d.criteria.forEach((c, ci) => {
        checkRef(c, `criteria[${ci}]`);
        if (d.criteria.findIndex((x) => x.id === c.id) !== ci) problems.push(`${at}.criteria[${ci}]: the id "${c.id}" is used twice`);
        if (c.equals === undefined && c.item !== undefined) {
          const it = instruments.get(c.instrument)?.items.get(c.item);
          if (it && !it.options.some((o) => o.weight !== null) && !['integer', 'decimal'].includes(it.type))
            problems.push(`${at}.criteria[${ci}]: ${c.item} is not a number; compare it with equals`);
        }
      });
      d.summary.forEach((s, si) => checkRef(s, `summary[${si}]`));
      const params: unknown[] = [];
      const compile = (expr: string, field: string): string => {
        try {
          const c = compileToSqlTyped(expr, {
            columns,
            alias: 'a',
            param: (v) => {
              params.push(v);
              return `$${params.length + FIXED}`;
            },
            asOf: '$1::date',
          });
          if (c.type !== 'boolean') problems.push(`${at}.${field}: "${expr}" is not a condition`);
          return c.sql;
        } catch (err) {
          problems.push(`${at}.${field}: ${(err as Error).message}`);
          return 'false';
        }
      };
      const populationSql = d.population ? compile(d.population, 'population') : 'true';
      const whenSql = d.criteria.map((c, ci) => (c.when ? compile(c.when, `criteria[${ci}].when`) : 'true'));
      const instrumentsUsed = [...new Set([...d.criteria, ...d.summary].map((x) => x.instrument))];
      out.push({ registry: r.id, def: d, populationSql, whenSql, params, instruments: instrumentsUsed });
    });
  }
  if (problems.length) throw new TriageDeclarationError(problems);
  return out;
}

/** One reason a patient is on the worklist. */
export interface TriageReason {
  kind: 'request' | 'threshold' | 'unassessable' | 'no-answer';
  criterion?: string;
  label?: { nb: string; en: string };
  instrument?: string;
  value?: unknown;
  /** The threshold as words: "> 40", "≥ 4", "= true". */
  threshold?: string;
}

export interface SummaryLine {
  instrument: string;
  instrumentTitle: { nb: string; en: string };
  score?: string;
  item?: string;
  label: { nb: string; en: string };
  /** The score's value or the item's answer (null: not answered or no score). */
  value: unknown;
  /** The answer option's words, for an item with options. */
  display?: string;
  range?: [number, number];
  direction?: string;
  /** The score came from a stand-in (e.g. a value set not yet verified): the worklist says so. */
  placeholder?: boolean;
}

interface ItemState {
  status: string;
  answers: Record<string, unknown> | null;
  scores: Record<string, { value: number | string | null }> | null;
  answeredAt: string | null;
}

const SYMBOL: Record<Comparison, string> = { above: '>', atLeast: '≥', below: '<', atMost: '≤', equals: '=' };

function meets(c: CriterionDef, value: unknown): boolean {
  if (c.equals !== undefined) return String(value) === String(c.equals);
  const n = Number(value);
  if (value === null || value === undefined || value === '' || !Number.isFinite(n)) return false;
  if (c.above !== undefined) return n > c.above;
  if (c.atLeast !== undefined) return n >= c.atLeast;
  if (c.below !== undefined) return n < c.below;
  return n <= c.atMost!;
}

function thresholdWords(c: CriterionDef): string {
  const k = COMPARISONS.find((x) => c[x] !== undefined)!;
  return `${SYMBOL[k]} ${String(c[k])}`;
}

export interface Decision {
  outcome: 'visit' | 'no-visit' | 'no-answer';
  reasons: TriageReason[];
  summary: SummaryLine[];
  answeredAt: string | null;
}

/**
 * What one case's answers decide, or null while it must wait (answers still to come, and no wish
 * for a visit yet) or when nothing is to be decided (everything cancelled, outside the population).
 */
export function decide(
  t: CompiledTriage,
  instruments: Map<string, Instrument>,
  items: Record<string, ItemState>,
  applies: boolean[],
): Decision | null {
  const states = Object.values(items);
  if (!states.length || states.every((s) => s.status === 'cancelled')) return null;
  const final = states.every((s) => ['answered', 'expired', 'cancelled'].includes(s.status));
  const answered = (inst: string) => (items[inst]?.status === 'answered' ? items[inst] : null);
  const valueOf = (ref: { instrument: string; score?: string; item?: string }) => {
    const s = answered(ref.instrument);
    if (!s) return undefined;
    return ref.score !== undefined ? (s.scores?.[ref.score]?.value ?? null) : (s.answers?.[ref.item!] ?? null);
  };
  const reasons: TriageReason[] = [];
  const requested = t.def.criteria.filter((c, i) => c.request && applies[i] && meets(c, valueOf(c)));
  for (const c of requested)
    reasons.push({
      kind: 'request',
      criterion: c.id,
      label: c.label,
      instrument: c.instrument,
      value: valueOf(c),
      threshold: thresholdWords(c),
    });
  if (!final && !requested.length) return null;
  const answeredAt =
    states
      .map((s) => s.answeredAt)
      .filter((x): x is string => !!x)
      .sort()
      .at(-1) ?? null;
  const summary = t.def.summary.map((s): SummaryLine => {
    const inst = instruments.get(s.instrument)!;
    const value = valueOf(s) ?? null;
    const base = { instrument: s.instrument, instrumentTitle: inst.def.title, value };
    if (s.score !== undefined) {
      const sc = inst.scores.get(s.score)!;
      const placeholder = (answered(s.instrument)?.scores?.[s.score] as { placeholder?: boolean } | undefined)?.placeholder === true;
      return {
        ...base,
        score: s.score,
        label: sc.label,
        ...(sc.range ? { range: sc.range } : {}),
        direction: sc.direction,
        ...(placeholder ? { placeholder } : {}),
      };
    }
    const it = inst.items.get(s.item!)!;
    const opt = it.options.find((o) => o.code === String(value));
    return { ...base, item: s.item, label: { nb: it.text, en: it.text }, ...(opt ? { display: opt.display } : {}) };
  });
  if (states.every((s) => s.status !== 'answered')) {
    if (!final) return null;
    return { outcome: 'no-answer', reasons: [{ kind: 'no-answer' }], summary, answeredAt };
  }
  t.def.criteria.forEach((c, i) => {
    if (c.request || !applies[i] || !items[c.instrument] || items[c.instrument].status === 'cancelled') return;
    const v = valueOf(c);
    if (v === undefined || v === null) {
      // Not answered (the invitation ended), or too few items for a score: a threshold that cannot be checked is not passed.
      if (final || items[c.instrument].status === 'answered')
        reasons.push({
          kind: 'unassessable',
          criterion: c.id,
          label: c.label,
          instrument: c.instrument,
          value: null,
          threshold: thresholdWords(c),
        });
      return;
    }
    if (meets(c, v))
      reasons.push({
        kind: 'threshold',
        criterion: c.id,
        label: c.label,
        instrument: c.instrument,
        value: v,
        threshold: thresholdWords(c),
      });
  });
  return { outcome: reasons.length ? 'visit' : 'no-visit', reasons, summary, answeredAt };
}

export interface TriageRun {
  decided: number;
  changed: number;
}

export class Triage {
  constructor(
    private readonly registries: Registry[],
    private readonly instruments: Map<string, Instrument>,
    readonly declarations: CompiledTriage[],
  ) {}

  /**
   * Decides what can be decided: for every declaration, the cases at its time point not yet
   * decided, or decided automatically and whose items changed since (late answers, expiry). A
   * clinician's override is never changed here. `personId` limits it to one patient (right after
   * they send their answers); the background job runs it for everyone.
   */
  async evaluate(tx: PersonTx, opts: { personId?: number; now?: Date } = {}): Promise<TriageRun> {
    const run: TriageRun = { decided: 0, changed: 0 };
    const today = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Oslo' }).format(opts.now ?? new Date());
    for (const t of this.declarations) {
      // A decision is made and recorded once: the job (every patient) and a patient's submission
      // never evaluate a declaration at the same time, nor two submissions of the same patient; the
      // second sees what the first decided. Submissions of different patients touch different
      // cases and go on side by side: with one lock per declaration, every patient's submission
      // waited for every other's (150–270 ms each with 200 patients answering, bench:prom at
      // 1,000,000 cases with --explain).
      const declaration = `${t.registry}/${t.def.id}`;
      if (opts.personId === undefined) await tx.client.query('SELECT pg_advisory_xact_lock(4251, hashtext($1))', [declaration]);
      else {
        await tx.client.query('SELECT pg_advisory_xact_lock_shared(4251, hashtext($1))', [declaration]);
        await tx.client.query('SELECT pg_advisory_xact_lock(4252, hashtext($1))', [`${declaration}/${opts.personId}`]);
      }
      const registry = this.registries.find((r) => r.id === t.registry)!;
      const whens = t.whenSql.map((w, i) => `bool_and((${w}) IS TRUE) AS w${i}`).join(', ');
      const { rows } = await tx.client.query(
        `WITH candidates AS (
           SELECT DISTINCT i.case_id FROM prom_item i
           LEFT JOIN prom_triage t ON t.registry = i.registry AND t.case_id = i.case_id AND t.triage = $3
           WHERE i.registry = $2 AND i.schedule = $4 AND i.timepoint = $5 AND i.instrument = ANY ($6::text[])
             AND ($7::bigint IS NULL OR i.person_id = $7) AND $1::date IS NOT NULL   -- $1: "today" for the expressions
             AND (t.case_id IS NULL OR (t.override_at IS NULL AND i.updated_at > t.evaluated_at)))
         SELECT i.case_id, min(i.person_id) AS person_id, bool_and((${t.populationSql}) IS TRUE) AS pop, ${whens},
                jsonb_object_agg(i.instrument, jsonb_build_object('status', i.status, 'answers', r.answers, 'scores', r.scores, 'answeredAt', r.answered_at)) AS items,
                min(t.outcome) AS prior_outcome, min(t.decision) AS prior_decision
         FROM candidates k
         JOIN prom_item i ON i.registry = $2 AND i.case_id = k.case_id AND i.schedule = $4 AND i.timepoint = $5 AND i.instrument = ANY ($6::text[])
         JOIN ${analyticsTable(registry)} a ON a.case_id = i.case_id
         LEFT JOIN prom_response r ON r.id = i.response_id
         LEFT JOIN prom_triage t ON t.registry = i.registry AND t.case_id = i.case_id AND t.triage = $3
         GROUP BY i.case_id`,
        [today, t.registry, t.def.id, t.def.schedule, t.def.timepoint, t.instruments, opts.personId ?? null, ...t.params],
      );
      const persons: number[] = [];
      for (const row of rows) {
        if (!row.pop) continue;
        const d = decide(
          t,
          this.instruments,
          row.items,
          t.whenSql.map((_, i) => row[`w${i}`] === true),
        );
        if (!d) continue;
        const decision = d.outcome === 'no-visit' ? 'no-visit' : 'visit';
        const res = await tx.client.query(
          `INSERT INTO prom_triage (registry, case_id, triage, person_id, schedule, timepoint, outcome, reasons, summary, decision, answered_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (registry, case_id, triage) DO UPDATE SET outcome = EXCLUDED.outcome, reasons = EXCLUDED.reasons, summary = EXCLUDED.summary,
             decision = EXCLUDED.decision, answered_at = EXCLUDED.answered_at, evaluated_at = now(),
             decided_at = CASE WHEN prom_triage.decision IS DISTINCT FROM EXCLUDED.decision OR prom_triage.outcome IS DISTINCT FROM EXCLUDED.outcome THEN now() ELSE prom_triage.decided_at END
           WHERE prom_triage.override_at IS NULL
           RETURNING (xmax = 0) AS inserted`,
          [
            t.registry,
            row.case_id,
            t.def.id,
            row.person_id,
            t.def.schedule,
            t.def.timepoint,
            d.outcome,
            JSON.stringify(d.reasons),
            JSON.stringify(d.summary),
            decision,
            d.answeredAt,
          ],
        );
        if (!res.rowCount) continue;
        const changed = row.prior_outcome !== d.outcome || row.prior_decision !== decision;
        if (changed) {
          await tx.client.query(
            `INSERT INTO prom_triage_event (registry, case_id, triage, kind, actor, decision, outcome, reason) VALUES ($1, $2, $3, 'automatic', 'platform:prom-triage', $4, $5, $6)`,
            [
              t.registry,
              row.case_id,
              t.def.id,
              decision,
              d.outcome,
              d.reasons
                .map((x) =>
                  x.kind === 'no-answer'
                    ? 'no answer'
                    : `${x.criterion} ${x.kind === 'unassessable' ? 'cannot be assessed' : `${String(x.value)} ${x.threshold}`}`,
                )
                .join('; ') || null,
            ],
          );
          if (res.rows[0].inserted) run.decided++;
          else run.changed++;
        }
        persons.push(Number(row.person_id));
      }
      if (persons.length)
        tx.audit({ action: 'prom:triage', object: `${t.registry}/prom/triage/${t.def.id}`, personIds: persons, registry: t.registry });
    }
    return run;
  }
}

// ---- The follow-up worklist, for clinicians of the unit (row-level security and the door's scope). ----

const READ = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'] as const;
const WRITE = ['unit-registrar', 'registry-admin', 'platform-admin'] as const;

export interface FollowUpRow {
  caseId: number;
  triage: string;
  title: { nb: string; en: string };
  timepoint: string;
  unit: string | null;
  person: { birthYear: number | null; sex: string | null };
  outcome: string;
  decision: string;
  reasons: TriageReason[];
  summary: SummaryLine[];
  answeredAt: string | null;
  decidedAt: string;
  override: { by: string; at: string; reason: string } | null;
  verified: boolean;
  history: Array<{ at: string; kind: string; actor: string; decision: string; outcome: string | null; reason: string | null }>;
}

export async function followUpList(
  tx: PersonTx,
  registry: Registry,
  declarations: CompiledTriage[],
  opts: { unit?: string; decision?: string; limit?: number; offset?: number },
): Promise<{ counts: { visit: number; 'no-visit': number }; total: number; items: FollowUpRow[] }> {
  if (opts.decision !== undefined && !['visit', 'no-visit'].includes(opts.decision))
    throw new KvalregError('invalid', 'decision is "visit" or "no-visit".');
  if (opts.unit) tx.requireUnit(registry.id, opts.unit, [...READ]);
  const scope = tx.unitsFor(registry.id, [...READ]);
  const units = opts.unit ? tx.units.descendants(opts.unit) : scope;
  const counts = (
    await tx.client.query(
      `SELECT t.decision, count(*)::int AS n FROM prom_triage t JOIN registry_case c ON c.registry = t.registry AND c.id = t.case_id
     WHERE t.registry = $1 AND ($2::text[] IS NULL OR c.unit_resh = ANY ($2)) GROUP BY t.decision`,
      [registry.id, units],
    )
  ).rows;
  const { rows } = await tx.client.query(
    `SELECT t.*, c.unit_resh, extract(year FROM p.birth_date)::int AS birth_year, p.sex, count(*) OVER () AS total
     FROM prom_triage t JOIN registry_case c ON c.registry = t.registry AND c.id = t.case_id JOIN person p ON p.id = t.person_id
     WHERE t.registry = $1 AND ($2::text[] IS NULL OR c.unit_resh = ANY ($2)) AND ($3::text IS NULL OR t.decision = $3)
     ORDER BY t.answered_at DESC NULLS LAST, t.case_id DESC LIMIT $4 OFFSET $5`,
    [registry.id, units, opts.decision ?? null, Math.min(opts.limit ?? 50, 500), opts.offset ?? 0],
  );
  const history = rows.length
    ? (
        await tx.client.query(
          `SELECT case_id, triage, at, kind, actor, decision, outcome, reason FROM prom_triage_event
     WHERE registry = $1 AND case_id = ANY ($2::bigint[]) ORDER BY at, id`,
          [registry.id, rows.map((r) => r.case_id)],
        )
      ).rows
    : [];
  tx.audit({
    action: 'list',
    object: `${registry.id}/prom/follow-up${opts.unit ? `/${opts.unit}` : ''}`,
    personIds: rows.map((r) => Number(r.person_id)),
    unit: opts.unit ?? null,
    registry: registry.id,
  });
  const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
  return {
    counts: {
      visit: counts.find((c) => c.decision === 'visit')?.n ?? 0,
      'no-visit': counts.find((c) => c.decision === 'no-visit')?.n ?? 0,
    },
    total: Number(rows[0]?.total ?? 0),
    items: rows.map((r): FollowUpRow => {
      const decl = declarations.find((d) => d.registry === registry.id && d.def.id === r.triage);
      return {
        caseId: Number(r.case_id),
        triage: r.triage,
        title: decl?.def.title ?? { nb: r.triage, en: r.triage },
        timepoint: r.timepoint,
        unit: r.unit_resh,
        person: { birthYear: r.birth_year, sex: r.sex },
        outcome: r.outcome,
        decision: r.decision,
        reasons: r.reasons,
        summary: r.summary,
        answeredAt: iso(r.answered_at),
        decidedAt: iso(r.decided_at)!,
        override: r.override_at ? { by: r.override_by, at: iso(r.override_at)!, reason: r.override_reason } : null,
        verified: decl?.def.verified ?? true,
        history: history
          .filter((h) => Number(h.case_id) === Number(r.case_id) && h.triage === r.triage)
          .map((h) => ({ at: iso(h.at)!, kind: h.kind, actor: h.actor, decision: h.decision, outcome: h.outcome, reason: h.reason })),
      };
    }),
  };
}

/** A clinician's override: the decision in force changes, with who, when and why kept as history. */
export async function overrideDecision(
  tx: PersonTx,
  registry: Registry,
  caseId: number,
  triage: string,
  body: { decision?: unknown; reason?: unknown },
): Promise<{ decision: string; override: { by: string; at: string; reason: string } }> {
  const row = (
    await tx.client.query(
      `SELECT t.decision, t.person_id, c.unit_resh FROM prom_triage t JOIN registry_case c ON c.registry = t.registry AND c.id = t.case_id
     WHERE t.registry = $1 AND t.case_id = $2 AND t.triage = $3 FOR UPDATE OF t`,
      [registry.id, caseId, triage],
    )
  ).rows[0];
  if (!row) {
    // Row-level security hides other units' rows: tell "not yours" (refused, audited) from "none".
    const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [registry.id, caseId])).rows[0];
    if (owner?.person_id)
      tx.requireUnit(registry.id, owner.unit, [...WRITE], {
        object: `${registry.id}/prom/triage/${caseId}/${triage}`,
        personId: Number(owner.person_id),
      });
    throw new KvalregError('not-found', `Case ${caseId} has no follow-up decision "${triage}" in ${registry.id}.`);
  }
  tx.requireUnit(registry.id, row.unit_resh, [...WRITE], {
    object: `${registry.id}/prom/triage/${caseId}/${triage}`,
    personId: Number(row.person_id),
  });
  // The request is looked at only once the caller may act on the case.
  const decision = body?.decision;
  if (decision !== 'visit' && decision !== 'no-visit')
    throw new KvalregError(
      'invalid',
      'Give "decision": "visit" (the patient is called in for a check-up) or "no-visit" (no visit needed).',
    );
  const reason = typeof body?.reason === 'string' ? body.reason.trim() : '';
  if (reason.length < 3)
    throw new KvalregError('invalid', 'Give the reason for the change ("reason"): it is kept with your name in the history.');
  if (reason.length > 1000) throw new KvalregError('invalid', 'The reason is longer than 1000 characters; shorten it.');
  if (row.decision === decision) throw new KvalregError('conflict', `The decision is already "${decision}"; nothing to change.`);
  const by = callerLabel(tx.caller);
  const at = (
    await tx.client.query(
      `UPDATE prom_triage SET decision = $4, override_by = $5, override_at = now(), override_reason = $6 WHERE registry = $1 AND case_id = $2 AND triage = $3 RETURNING override_at`,
      [registry.id, caseId, triage, decision, by, reason],
    )
  ).rows[0].override_at;
  await tx.client.query(
    `INSERT INTO prom_triage_event (registry, case_id, triage, kind, actor, decision, reason) VALUES ($1, $2, $3, 'override', $4, $5, $6)`,
    [registry.id, caseId, triage, by, decision, reason],
  );
  tx.audit({
    action: 'prom:triage-override',
    object: `${registry.id}/prom/triage/${caseId}/${triage}`,
    personIds: [Number(row.person_id)],
    unit: row.unit_resh,
    registry: registry.id,
  });
  return { decision, override: { by, at: new Date(at).toISOString(), reason } };
}
