// Runs a registry's screening declaration over a file of hospital admissions (one row per
// admission or per admission and department, as the patient administrative system or NPR
// exports them) and explains, for every admission, the step that kept or dropped it and why.
// Pure: reading the file and deciding are separate from who may see the result (the route and
// the command line) and from the audit trail.
import { parse } from 'csv-parse/sync';
import { isTestKind, parseNin } from '../identity/nin.ts';
import { isRealDate } from '../registry/values.ts';
import type { Text } from '../registry/schema.ts';
import type { ScreeningDef, StepDef } from './schema.ts';
import { KvalregError } from '../errors.ts';

export class ScreeningError extends KvalregError {
  constructor(message: string) {
    super('unprocessable', message);
  }
}

export const STANDARD_COLUMNS = ['admission_id', 'national_id', 'admission_date', 'department_kind', 'outpatient', 'codes'] as const;

export interface Admission {
  admissionId: string;
  nationalId: string;
  admissionDate: string;
  departmentKinds: string[];
  /** Every row of the admission was outpatient treatment. */
  outpatient: boolean;
  flags: Record<string, boolean>;
  /** Normalised (upper case, no dot), distinct, in the order first seen. */
  codes: string[];
  lines: number[];
  /** Lines whose national_id was not a number this deployment accepts: reported, the admission screened without it. */
  identityProblems: Array<{ line: number; message: string }>;
}

export interface Outcome {
  admissionId: string;
  admissionDate: string;
  /** Only for kept admissions: the registrar needs it to open the record; dropped ones carry none. */
  nationalId?: string;
  outcome: 'kept' | 'dropped';
  step: string;
  stepTitle: Text;
  reason: Text;
  detail: Text;
  flags: string[];
  codes: string[];
  /** Why the admission has no national id: its number was invalid (the line and the rule it broke). */
  identityProblem?: string;
}

export interface ScreeningResult {
  admissions: number;
  kept: number;
  dropped: Record<string, number>;
  outcomes: Outcome[];
  /** Rows whose national_id was refused; their admissions were screened without it. */
  problems: Array<{ line: number; admissionId: string; message: string }>;
}

export interface ReadOptions {
  today?: Date;
  /** Accept synthetic test numbers (config `allowTestIdentities`). */
  allowTestIdentities?: boolean;
}

/** "S72.0" → "S720"; "s06.5 " → "S065". */
export function normaliseCode(code: string): string {
  return code.trim().toUpperCase().replace(/\./g, '');
}

/** A predicate for one declared code pattern (see schema.ts). */
export function codePattern(p: string): (code: string) => boolean {
  const range = /^([A-Z])(\d{2})-([A-Z])(\d{2})$/.exec(p);
  if (range) {
    const [, l1, n1, l2, n2] = range;
    if (l1 !== l2) throw new ScreeningError(`code range ${p} must stay within one letter`);
    return (code) =>
      code[0] === l1 && /^\d{2}/.test(code.slice(1, 3)) && Number(code.slice(1, 3)) >= Number(n1) && Number(code.slice(1, 3)) <= Number(n2);
  }
  const prefix = normaliseCode(p.replace(/\*$/, ''));
  return (code) => code.startsWith(prefix);
}

export function anyOf(patterns: string[]): (code: string) => boolean {
  const fns = patterns.map(codePattern);
  return (code) => fns.some((f) => f(code));
}

const TRUE = /^(1|j|ja|y|yes|true|sann)$/i,
  FALSE = /^(0|n|nei|no|false|usann|)$/i;
const display = (code: string) => (code.length > 3 ? `${code.slice(0, 3)}.${code.slice(3)}` : code);

/**
 * Reads the admissions file (`;` or `,` separated, a header row) into admissions, merging rows of
 * one admission. A row whose national_id is not a valid number (or is a test number where they are
 * not accepted) does not stop the run: it is reported with its admission, which is screened
 * without a national id (the registrar finds it by its admission id). A file that cannot be read
 * as admissions at all (columns, dates, department kinds, codes) is refused whole, naming every line.
 */
export function readAdmissions(def: ScreeningDef, csv: string, opts: ReadOptions = {}): Admission[] {
  const firstLine = csv.split(/\r?\n/, 1)[0] ?? '';
  if (!firstLine.trim())
    throw new ScreeningError(
      `the file is empty: give a header row with the columns ${[...STANDARD_COLUMNS, ...def.flagColumns].join(', ')}, then one row per admission`,
    );
  let records: Record<string, string>[];
  try {
    records = parse(csv, {
      columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
      skip_empty_lines: true,
      delimiter: firstLine.includes(';') ? ';' : ',',
      trim: true,
      bom: true,
    });
  } catch (err) {
    throw new ScreeningError(`the file is not valid CSV: ${(err as Error).message}`);
  }
  const header = firstLine.split(firstLine.includes(';') ? ';' : ',').map((c) =>
    c
      .trim()
      .toLowerCase()
      .replace(/^\ufeff/, ''),
  );
  const required = [...STANDARD_COLUMNS, ...def.flagColumns];
  const missing = required.filter((c) => !header.includes(c));
  if (missing.length)
    throw new ScreeningError(
      `the file lacks the column(s) ${missing.join(', ')}; expected ${required.join(', ')} (codes: the admission's ICD-10 codes separated by spaces, with or without the dot)`,
    );
  const kinds = new Set(def.departmentKinds.map((k) => k.code));
  const byId = new Map<string, Admission>();
  const problems: string[] = [];
  const bool = (v: string, col: string, line: number): boolean => {
    if (TRUE.test(v)) return true;
    if (FALSE.test(v)) return false;
    problems.push(`line ${line}: ${col} must be 1/0 (or ja/nei, true/false), not "${v}"`);
    return false;
  };
  records.forEach((r, i) => {
    const line = i + 2;
    const id = r.admission_id;
    if (!id) {
      problems.push(`line ${line}: admission_id is empty`);
      return;
    }
    const nin = parseNin(r.national_id ?? '', { today: opts.today });
    const ninProblem = !nin.ok
      ? nin.message
      : isTestKind(nin.kind) && !opts.allowTestIdentities
        ? 'a synthetic test number (month + 80), which no real patient has; this deployment does not accept test numbers'
        : null;
    const good = nin.ok && ninProblem === null ? nin.nin : null;
    if (!isRealDate(r.admission_date ?? ''))
      problems.push(`line ${line}: admission_date must be a real date written YYYY-MM-DD, not "${r.admission_date}"`);
    const kind = (r.department_kind ?? '').trim().toLowerCase();
    if (!kinds.has(kind)) problems.push(`line ${line}: department_kind "${r.department_kind}" is not one of ${[...kinds].join(', ')}`);
    const codes = (r.codes ?? '')
      .split(/[\s,|]+/)
      .filter(Boolean)
      .map(normaliseCode);
    const bad = codes.filter((c) => !/^[A-Z]\d{2}[0-9A-Z]{0,3}$/.test(c));
    if (bad.length) problems.push(`line ${line}: ${bad.map((c) => `"${c}"`).join(', ')} is not an ICD-10 code (e.g. S72.0 or S720)`);
    const a: Admission = byId.get(id) ?? {
      admissionId: id,
      nationalId: '',
      admissionDate: r.admission_date,
      departmentKinds: [],
      outpatient: true,
      flags: Object.fromEntries(def.flagColumns.map((c) => [c, false])),
      codes: [],
      lines: [],
      identityProblems: [],
    };
    if (ninProblem !== null) a.identityProblems.push({ line, message: `national_id: ${ninProblem}` });
    if (good !== null && a.nationalId && a.nationalId !== good)
      problems.push(`line ${line}: admission ${id} has another national_id than on line ${a.lines[0]}`);
    if (good !== null && !a.nationalId) a.nationalId = good;
    if (!a.departmentKinds.includes(kind)) a.departmentKinds.push(kind);
    a.outpatient = a.outpatient && bool(r.outpatient ?? '', 'outpatient', line);
    for (const c of def.flagColumns) if (bool(r[c] ?? '', c, line)) a.flags[c] = true;
    for (const c of codes) if (!a.codes.includes(c)) a.codes.push(c);
    if (r.admission_date < a.admissionDate) a.admissionDate = r.admission_date;
    a.lines.push(line);
    byId.set(id, a);
  });
  if (problems.length) {
    // Refused whole: the identity numbers' problems are listed too, so one round of corrections is enough.
    for (const a of byId.values()) for (const p of a.identityProblems) problems.push(`line ${p.line}: ${p.message}`);
    problems.sort((x, y) => Number(/^line (\d+)/.exec(x)?.[1] ?? 0) - Number(/^line (\d+)/.exec(y)?.[1] ?? 0));
    const shown = problems.slice(0, 20);
    throw new ScreeningError(
      `the file has ${problems.length} problem(s); nothing was screened:\n  ${shown.join('\n  ')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`,
    );
  }
  return [...byId.values()];
}

interface CompiledStep {
  def: StepDef;
  decide: (a: Admission) => { drop: boolean; detail: Text };
}

function compileStep(def: StepDef, kindName: (k: string) => string): CompiledStep {
  switch (def.kind) {
    case 'drop-flagged':
      return {
        def,
        decide: (a) => ({
          drop: a.flags[def.column] === true,
          detail: a.flags[def.column]
            ? { nb: `${def.column} = ja`, en: `${def.column} = yes` }
            : { nb: `${def.column} = nei`, en: `${def.column} = no` },
        }),
      };
    case 'drop-department': {
      const kinds = new Set(def.departmentKinds);
      return {
        def,
        decide: (a) => {
          if (def.outpatient && a.outpatient)
            return { drop: true, detail: { nb: 'bare poliklinisk behandling', en: 'outpatient treatment only' } };
          if (a.departmentKinds.every((k) => kinds.has(k)))
            return {
              drop: true,
              detail: {
                nb: `bare ved ${a.departmentKinds.map(kindName).join(', ')}`,
                en: `only at ${a.departmentKinds.map(kindName).join(', ')}`,
              },
            };
          return {
            drop: false,
            detail: {
              nb: `behandlet ved ${a.departmentKinds.map(kindName).join(', ')}`,
              en: `treated at ${a.departmentKinds.map(kindName).join(', ')}`,
            },
          };
        },
      };
    }
    case 'drop-unless-any': {
      const match = anyOf(def.codes);
      return {
        def,
        decide: (a) => {
          const hits = a.codes.filter(match);
          return hits.length
            ? { drop: false, detail: { nb: `har ${hits.map(display).join(', ')}`, en: `has ${hits.map(display).join(', ')}` } }
            : {
                drop: true,
                detail: {
                  nb: `ingen av kodene ${a.codes.map(display).join(', ')} er blant ${def.codes.join(', ')}`,
                  en: `none of the codes ${a.codes.map(display).join(', ')} is among ${def.codes.join(', ')}`,
                },
              };
        },
      };
    }
    case 'drop-single-listed': {
      const among = anyOf(def.among),
        listed = anyOf(def.codes);
      return {
        def,
        decide: (a) => {
          const relevant = a.codes.filter(among);
          const onList = relevant.filter(listed),
            off = relevant.filter((c) => !listed(c));
          if (relevant.length === 1 && onList.length === 1)
            return {
              drop: true,
              detail: {
                nb: `eneste skadekode ${display(onList[0])} er på listen`,
                en: `the only injury code ${display(onList[0])} is listed`,
              },
            };
          if (off.length)
            return {
              drop: false,
              detail: {
                nb: `${off.map(display).join(', ')} er ikke på listen`,
                en: `${off.map(display).join(', ')} ${off.length > 1 ? 'are' : 'is'} not on the list`,
              },
            };
          return {
            drop: false,
            detail: {
              nb: `${onList.length} listede koder (${onList.map(display).join(', ')}): flere enn én`,
              en: `${onList.length} listed codes (${onList.map(display).join(', ')}): more than one`,
            },
          };
        },
      };
    }
  }
}

/** Runs the declared steps over the admissions: every admission gets the step that decided it. */
export function screen(def: ScreeningDef, admissions: Admission[]): ScreeningResult {
  const kindName = (k: string) => def.departmentKinds.find((x) => x.code === k)?.display.en ?? k;
  const steps = def.steps.map((s) => compileStep(s, kindName));
  const search = anyOf(def.search.codes);
  const flags = def.flags.map((f) => ({ id: f.id, match: anyOf(f.codes) }));
  const dropped: Record<string, number> = {};
  const outcomes: Outcome[] = [];
  const problems: ScreeningResult['problems'] = [];
  for (const a of admissions) {
    for (const p of a.identityProblems ?? []) problems.push({ line: p.line, admissionId: a.admissionId, message: p.message });
    const unidentified =
      !a.nationalId && a.identityProblems?.length
        ? {
            identityProblem: `${a.identityProblems.map((p) => `line ${p.line}: ${p.message}`).join('; ')} — screened without a national id; find the admission by its id`,
          }
        : {};
    const base = { admissionId: a.admissionId, admissionDate: a.admissionDate, codes: a.codes.map(display), ...unidentified };
    const drop = (step: string, stepTitle: Text, reason: Text, detail: Text) => {
      dropped[step] = (dropped[step] ?? 0) + 1;
      outcomes.push({ ...base, outcome: 'dropped', step, stepTitle, reason, detail, flags: [] });
    };
    if (!a.codes.some(search)) {
      drop('search', { nb: 'Søk', en: 'Search' }, def.search.reason, {
        nb: `koder: ${base.codes.join(', ') || 'ingen'}`,
        en: `codes: ${base.codes.join(', ') || 'none'}`,
      });
      continue;
    }
    let decided = false,
      last: Text = { nb: '', en: '' };
    for (const s of steps) {
      const d = s.decide(a);
      if (d.drop) {
        drop(s.def.id, s.def.title, s.def.reason, d.detail);
        decided = true;
        break;
      }
      last = d.detail;
    }
    if (decided) continue;
    outcomes.push({
      ...base,
      ...(a.nationalId ? { nationalId: a.nationalId } : {}),
      outcome: 'kept',
      step: 'keep',
      stepTitle: def.keep.title,
      reason: def.keep.reason,
      detail: last,
      flags: flags.filter((f) => a.codes.some(f.match)).map((f) => f.id),
    });
  }
  problems.sort((x, y) => x.line - y.line);
  return { admissions: admissions.length, kept: outcomes.filter((o) => o.outcome === 'kept').length, dropped, outcomes, problems };
}

/** The result as CSV: one row per admission; the national id only on kept rows; why a number was refused, last. */
export function outcomesCsv(result: ScreeningResult, lang: 'nb' | 'en' = 'nb'): string {
  const esc = (v: string) => (/[";\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const rows = [['admission_id', 'national_id', 'admission_date', 'outcome', 'step', 'reason', 'detail', 'flags', 'codes', 'problem']];
  for (const o of result.outcomes)
    rows.push([
      o.admissionId,
      o.nationalId ?? '',
      o.admissionDate,
      o.outcome,
      o.step,
      o.reason[lang],
      o.detail[lang],
      o.flags.join(' '),
      o.codes.join(' '),
      o.identityProblem ?? '',
    ]);
  return rows.map((r) => r.map(esc).join(';')).join('\n') + '\n';
}

/** The result as a text table for the terminal: the kept admissions first, then a count per step. */
export function outcomesTable(def: ScreeningDef, result: ScreeningResult, lang: 'nb' | 'en' = 'nb'): string {
  const kept = result.outcomes.filter((o) => o.outcome === 'kept');
  const header =
    lang === 'nb'
      ? ['Innleggelse', 'Fødselsnummer', 'Dato', 'Merknad', 'Hvorfor beholdt', 'Koder']
      : ['Admission', 'National id', 'Date', 'Flags', 'Why kept', 'Codes'];
  const rows = kept.map((o) => [o.admissionId, o.nationalId ?? '', o.admissionDate, o.flags.join(' '), o.detail[lang], o.codes.join(' ')]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [
    `${def.title[lang]}: ${result.kept} ${lang === 'nb' ? 'av' : 'of'} ${result.admissions} ${lang === 'nb' ? 'innleggelser til manuell vurdering' : 'admissions for manual assessment'}`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
    '',
  ];
  const stepTitle = (id: string) =>
    id === 'search' ? (lang === 'nb' ? 'Ikke i søket' : 'Not in the search') : (def.steps.find((s) => s.id === id)?.title[lang] ?? id);
  for (const [step, n] of Object.entries(result.dropped)) out.push(`${lang === 'nb' ? 'Slettet' : 'Dropped'}: ${stepTitle(step)}: ${n}`);
  if (result.problems.length) {
    out.push(
      '',
      lang === 'nb'
        ? `Ugyldig fødselsnummer (innleggelsen er vurdert uten; finn den med innleggelses-id): ${result.problems.length}`
        : `Invalid national id (the admission was screened without it; find it by its admission id): ${result.problems.length}`,
    );
    for (const p of result.problems) out.push(`  ${lang === 'nb' ? 'linje' : 'line'} ${p.line} (${p.admissionId}): ${p.message}`);
  }
  return out.join('\n') + '\n';
}
