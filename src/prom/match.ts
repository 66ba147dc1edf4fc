// Which schedule time points an answer given on a day belongs to, for one patient: the same
// schedules the scheduler compiles to SQL over the analytics tables, evaluated here on the case's
// values as capture computes them (the analytics rows run seconds behind, and an answer may come
// in the same message as the case). Used when an answer arrives from another system
// (QuestionnaireResponse, imported flat answers): it is matched to the time points whose windows
// hold the day it was given, whether or not the scheduler ever invited the patient for them.
//
// The calendar arithmetic is PostgreSQL's, as the scheduler's: months first, with the day clamped
// to the end of a shorter month (31 January + 1 month = the last day of February; 29 February +
// 12 months = 28 February), then days.
import { analyticsColumns } from '../analytics/columns.ts';
import { compileExpression, holds, type Compiled, type Values } from '../registry/expr.ts';
import type { Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';
import type { CompiledSchedule } from './schedule.ts';

export interface MatchableSchedule {
  schedule: CompiledSchedule;
  population: Compiled | null;
  rules: Array<{ instrument: string; at: Set<string>; when: Compiled | null }>;
}

/** One time point of one case at which a schedule asks an instrument, with its window. */
export interface Slot {
  registry: string;
  caseId: number;
  schedule: string;
  timepoint: string;
  instrument: string;
  /** Whose item: the registry's, or the treating unit's own follow-up (see schedule.ts). */
  party: 'registry' | 'clinic';
  recall: 'current' | 'pre-injury';
  due: string;
  opens: string;
  closes: string;
}

/** Compiles each schedule's expressions for evaluation on a case's values (they were checked in SQL on load). */
export function matchable(schedules: CompiledSchedule[], registries: Registry[]): MatchableSchedule[] {
  return schedules.map((s) => {
    const r = registries.find((x) => x.id === s.registry)!;
    const names = new Set(analyticsColumns(r).map((c) => c.name));
    const compile = (e: string | undefined) => (e ? compileExpression(e, { variables: names }) : null);
    return {
      schedule: s,
      population: compile(s.def.population),
      rules: s.def.instruments.map((rule) => ({
        instrument: rule.instrument,
        at: new Set(rule.at ?? s.def.timepoints.map((t) => t.id)),
        when: compile(rule.when),
      })),
    };
  });
}

/** Every slot of one case (its values as `caseValues` gives them): each time point and instrument its schedule asks. */
export function slotsOf(m: MatchableSchedule, caseId: number, values: Values, unit: string | null = null): Slot[] {
  const s = m.schedule;
  if (s.units && (!unit || !s.units.includes(unit))) return [];
  if (m.population && !holds(m.population(values))) return [];
  const raw = values[s.def.relativeTo];
  if (raw === null || raw === undefined || raw === '') return [];
  const anchor = osloDate(String(raw));
  const out: Slot[] = [];
  for (const t of s.def.timepoints) {
    const due = addDays(addMonths(anchor, t.offset.months), t.offset.days);
    const window = { opens: addDays(due, -t.window.before), closes: addDays(due, t.window.after) };
    for (const rule of m.rules) {
      if (!rule.at.has(t.id) || (rule.when && !holds(rule.when(values)))) continue;
      out.push({
        registry: s.registry,
        caseId,
        schedule: s.def.id,
        timepoint: t.id,
        instrument: rule.instrument,
        party: s.party,
        recall: t.recall,
        due,
        ...window,
      });
    }
  }
  return out;
}

/** `date` (YYYY-MM-DD) plus whole months, the day clamped to the month's end (PostgreSQL's `date + interval 'n months'`). */
export function addMonths(date: string, months: number): string {
  const [y, m, d] = date.split('-').map(Number);
  const total = y * 12 + (m - 1) + months;
  const year = Math.floor(total / 12),
    month = total - year * 12;
  const last = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return iso(year, month + 1, Math.min(d, last));
}

export function addDays(date: string, days: number): string {
  const t = Date.parse(`${date}T00:00:00Z`) + days * 86_400_000;
  const d = new Date(t);
  return iso(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
}

function iso(y: number, m: number, d: number): string {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/**
 * The slots an answer to `instrument` given on `day` answers: those whose window holds the day.
 * When the recall is not given, the slots of one recall are kept: the recall of the slot whose
 * due date is nearest the day (a recalled baseline and a current follow-up are never the same answer).
 */
export function slotsAnswered(slots: Slot[], instrument: string, day: string, recall?: 'current' | 'pre-injury'): Slot[] {
  const inWindow = slots.filter(
    (s) => s.instrument === instrument && s.opens <= day && day <= s.closes && (!recall || s.recall === recall),
  );
  if (recall || inWindow.length === 0) return inWindow;
  const distance = (s: Slot) => Math.abs(Date.parse(s.due) - Date.parse(day));
  const nearest = inWindow.reduce((a, b) => (distance(b) < distance(a) ? b : a));
  return inWindow.filter((s) => s.recall === nearest.recall);
}
