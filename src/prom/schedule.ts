// A registry's PROM schedules (`registries/<id>/prom.yaml`): which shared instruments are asked at
// which time points, relative to which date of the case, within which window, chosen by the
// case's values; and the reminder and expiry of the invitation. Loaded beside the registry (the
// registry loader is not changed: the file is part of the registry's folder, so its hash and
// version cover it) and compiled to SQL over the registry's analytics table, where every value an
// expression may use is a typed column.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { analyticsColumns, analyticsTable } from '../analytics/columns.ts';
import { compileToSqlTyped } from '../registry/expr-sql.ts';
import type { Registry } from '../registry/load.ts';
import { text, type VariableType } from '../registry/schema.ts';
import type { Instrument } from './instruments.ts';
import { KvalregError } from '../errors.ts';

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _, starting with a letter');

const timepointSchema = z
  .object({
    id,
    label: text,
    /** Calendar offset from the case's date: months first (month-end kept: 31 Jan + 1 month = 28/29 Feb), then days. */
    offset: z
      .object({ months: z.number().int().min(0).default(0), days: z.number().int().default(0) })
      .strict()
      .default({ months: 0, days: 0 }),
    /** Days before and after the due date in which an answer counts for this time point. */
    window: z.object({ before: z.number().int().min(0), after: z.number().int().min(0) }).strict(),
    /** `pre-injury`: the patient answers as they were before the injury (a recalled baseline). */
    recall: z.enum(['current', 'pre-injury']).default('current'),
  })
  .strict();

const instrumentRuleSchema = z
  .object({
    instrument: z.string().min(1),
    /** Asked only for cases where this holds (e.g. a region of the body); default: always. */
    when: z.string().min(1).optional(),
    /** Asked only at these time points (default: all). */
    at: z.array(id).optional(),
  })
  .strict();

export const scheduleSchema = z
  .object({
    id,
    title: text,
    /** The date (or date-time, taken as its Norwegian calendar date) the time points count from. */
    relativeTo: id,
    /** Which cases are followed up at all (default: every case). */
    population: z.string().min(1).optional(),
    timepoints: z.array(timepointSchema).min(1),
    instruments: z.array(instrumentRuleSchema).min(1),
    /** Days after the invitation is sent: a reminder, and the end (ePROM's defaults are 15 and 30). */
    reminderDays: z.number().int().min(1).default(15),
    expiryDays: z.number().int().min(1).default(30),
    /** Why the hospital asks, in the neutral words of the invitation (no diagnosis). */
    purpose: text,
    /**
     * Whose questionnaire it is: the registry's (default), or the treating unit's own follow-up
     * (`clinic`), for the patient's care. A clinic's items share the patient's one invitation with
     * the registries' (each instrument asked once); the clinic reads the answers to its own items,
     * and a registry's results, analytics and extracts never read a clinic's items.
     */
    party: z.enum(['registry', 'clinic']).default('registry'),
    /** For a clinic's schedule: the units (RESH) whose own follow-up it is (default: every unit of the registry). */
    units: z.array(z.string().regex(/^\d+$/, 'a RESH id is digits only')).min(1).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.units && s.party !== 'clinic')
      ctx.addIssue({ code: 'custom', path: ['units'], message: "units are for a clinic's schedule (party: clinic)" });
    if (s.reminderDays >= s.expiryDays)
      ctx.addIssue({ code: 'custom', path: ['reminderDays'], message: 'the reminder must come before the invitation expires' });
    const ids = new Set(s.timepoints.map((t) => t.id));
    s.instruments.forEach((r, i) =>
      r.at?.forEach((t) => {
        if (!ids.has(t)) ctx.addIssue({ code: 'custom', path: ['instruments', i, 'at'], message: `unknown time point "${t}"` });
      }),
    );
  });
export type ScheduleDef = z.output<typeof scheduleSchema>;

export const promFileSchema = z
  .object({
    schedules: z.array(scheduleSchema).min(1),
    /** How results are shown: responders and non-responders compared by these variables (e.g. age group and sex). */
    results: z
      .object({ compareBy: z.array(id).default([]) })
      .strict()
      .default({ compareBy: [] }),
    /** Digital home follow-up: which answers call for a visit (checked by triage.ts). */
    triage: z.array(z.unknown()).optional(),
  })
  .strict();

export interface CompiledSchedule {
  registry: string;
  def: ScheduleDef;
  /** SQL giving, per analytics row, the instruments the case is asked (one boolean per rule), with parameters. */
  rules: Array<{ instrument: string; at: string[]; whenSql: string }>;
  populationSql: string;
  /** SQL of the case's date the time points count from (a date). */
  anchorSql: string;
  params: unknown[];
  /** Variables responders and non-responders are compared by (prom.yaml `results.compareBy`). */
  compareBy: string[];
  /** Whose questionnaire: the registry's, or the treating unit's own (`clinic`). */
  party: 'registry' | 'clinic';
  /** A clinic's schedule: the units it is the follow-up of (null: every unit). */
  units: string[] | null;
}

/** The registry's own schedules: what its results, analytics rows and extracts read (never a clinic's). */
export function registrySchedules(schedules: CompiledSchedule[], registry?: string): CompiledSchedule[] {
  return schedules.filter((s) => s.party === 'registry' && (!registry || s.registry === registry));
}

export class ScheduleError extends KvalregError {
  constructor(readonly problems: string[]) {
    super('internal', `PROM schedules are invalid:\n  ${problems.join('\n  ')}`, { details: problems });
  }
}

/** Loads and compiles `prom.yaml` of each registry that has one. */
export function loadSchedules(registries: Registry[], instruments: Map<string, Instrument>): CompiledSchedule[] {
  const problems: string[] = [];
  const out: CompiledSchedule[] = [];
  for (const r of registries) {
    const file = path.join(r.dir, 'prom.yaml');
    if (!fs.existsSync(file)) continue;
    const where = path.relative(process.cwd(), file);
    let raw: unknown;
    try {
      raw = YAML.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      problems.push(`${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    const parsed = promFileSchema.safeParse(raw);
    if (!parsed.success) {
      for (const i of parsed.error.issues) problems.push(`${where}: ${i.path.join('.') || '(top)'}: ${i.message}`);
      continue;
    }
    const columns = new Map<string, VariableType>(analyticsColumns(r).map((c) => [c.name, c.type]));
    const compareBy = parsed.data.results.compareBy;
    compareBy.forEach((v, i) => {
      if (!columns.has(v)) problems.push(`${where}: results.compareBy[${i}]: "${v}" is not a variable of the registry`);
    });
    parsed.data.schedules.forEach((s, si) => {
      const at = `${where}: schedules[${si}] (${s.id})`;
      const params: unknown[] = [];
      const compile = (expr: string, field: string): string => {
        try {
          const c = compileToSqlTyped(expr, {
            columns,
            alias: 'a',
            param: (v) => {
              params.push(v);
              return `$${params.length + PARAM_OFFSET}`;
            },
            asOf: `$${PARAM_OFFSET}::date`,
          });
          if (c.type !== 'boolean') problems.push(`${at}.${field}: "${expr}" is not a condition`);
          return c.sql;
        } catch (err) {
          problems.push(`${at}.${field}: ${(err as Error).message}`);
          return 'false';
        }
      };
      const anchorType = columns.get(s.relativeTo);
      if (anchorType !== 'date' && anchorType !== 'datetime')
        problems.push(`${at}.relativeTo: "${s.relativeTo}" must be a date or date-time variable of the registry`);
      const anchorSql = anchorType === 'datetime' ? `((a."${s.relativeTo}") AT TIME ZONE 'Europe/Oslo')::date` : `a."${s.relativeTo}"`;
      const rules = s.instruments.map((rule, ri) => {
        if (!instruments.has(rule.instrument))
          problems.push(
            `${at}.instruments[${ri}]: no instrument "${rule.instrument}" in instruments/ (known: ${[...instruments.keys()].join(', ')})`,
          );
        return {
          instrument: rule.instrument,
          at: rule.at ?? s.timepoints.map((t) => t.id),
          whenSql: rule.when ? compile(rule.when, `instruments[${ri}].when`) : 'true',
        };
      });
      const populationSql = s.population ? compile(s.population, 'population') : 'true';
      out.push({ registry: r.id, def: s, rules, populationSql, anchorSql, params, compareBy, party: s.party, units: s.units ?? null });
    });
  }
  for (const r of registries) checkResults(r, registrySchedules(out, r.id), instruments, problems);
  if (problems.length) throw new ScheduleError(problems);
  return out;
}

/** A registry's `prom` derived variables name time points of its schedules, and instruments with those scores. */
function checkResults(r: Registry, schedules: CompiledSchedule[], instruments: Map<string, Instrument>, problems: string[]): void {
  for (const d of r.derived) {
    if (!d.prom) continue;
    const at = `${path.relative(process.cwd(), path.join(r.dir, 'codebook.yaml'))}: derived ${d.def.id}.prom`;
    const mine = schedules.filter((s) => !d.prom!.schedule || s.def.id === d.prom!.schedule);
    if (!schedules.length) {
      problems.push(`${at}: the registry has no PROM schedule (prom.yaml)`);
      continue;
    }
    if (!mine.length) {
      problems.push(`${at}.schedule: no schedule "${d.prom.schedule}" in prom.yaml`);
      continue;
    }
    if (!mine.some((s) => s.def.timepoints.some((t) => t.id === d.prom!.timepoint)))
      problems.push(`${at}.timepoint: no time point "${d.prom.timepoint}" in ${mine.map((s) => s.def.id).join(', ')}`);
    for (const [inst, score] of Object.entries(d.prom.instruments)) {
      const i = instruments.get(inst);
      if (!i) problems.push(`${at}.instruments: no instrument "${inst}" in instruments/`);
      else if (!i.scores.has(score))
        problems.push(`${at}.instruments.${inst}: ${inst} has no score "${score}" (its scores: ${[...i.scores.keys()].join(', ')})`);
      else if (d.prom.value === 'score' && ['decimal', 'integer'].includes(d.def.type) && i.scores.get(score)!.method === 'profile')
        problems.push(`${at}: ${inst}.${score} is a profile (text); declare type text`);
    }
    const want = d.prom.value === 'answered' ? ['date'] : d.prom.value === 'score' ? ['decimal', 'integer', 'text'] : ['text', 'code'];
    if (!want.includes(d.def.type)) problems.push(`${at}: a PROM ${d.prom.value} is a ${want.join(' or ')}; declare type ${want[0]}`);
  }
}

/** Parameters $1 (today) is reserved by the scheduler's statement; the schedule's own start after it. */
export const PARAM_OFFSET = 1;

export { analyticsTable };
