// Scores one response to one instrument, from the instrument's declaration alone. The same
// function serves the platform (responses from the patient's form, QuestionnaireResponses from
// other systems, imported flat answers) and `kvalreg prom score`, so a statistician can reproduce
// any stored score.
import type { Instrument, ItemInfo } from './instruments.ts';
import type { ScoreDef } from './instrument-schema.ts';
import { KvalregError } from '../errors.ts';

/** Answers by linkId: an option's code, a number, a boolean or a text. */
export type Answers = Record<string, string | number | boolean | null | undefined>;

export interface ScoreResult {
  value: number | string | null;
  /** Why there is no value (too few items answered, a module that does not apply …). */
  reason?: string;
  answered?: number;
  needed?: number;
  direction: ScoreDef['direction'];
  /** The value set an index was computed with, and whether it stands in for the declared default. */
  valueSet?: string;
  placeholder?: boolean;
  verified: boolean;
}

export interface Scored {
  instrument: string;
  version: string;
  scores: Record<string, ScoreResult>;
  /** Answers that could not be used: an unknown linkId, a code that is not an option, a number out of range. */
  problems: string[];
}

export class ScoringError extends KvalregError {
  constructor(message: string) {
    super('unprocessable', message);
  }
}

/**
 * The numeric value of one answer to one item: the option's weight, or the number itself. Returns
 * undefined for no answer, and throws for an answer the item cannot have.
 */
export function itemValue(item: ItemInfo, answer: Answers[string]): number | undefined {
  if (answer === null || answer === undefined || answer === '') return undefined;
  if (item.options.length) {
    const o = item.options.find((x) => x.code === String(answer));
    if (!o) throw new ScoringError(`${item.linkId}: "${answer}" is not one of its answers (${item.options.map((x) => x.code).join(', ')})`);
    if (o.weight === null) throw new ScoringError(`${item.linkId}: answer "${answer}" has no weight`);
    return o.weight;
  }
  const n = typeof answer === 'number' ? answer : typeof answer === 'string' && answer.trim() !== '' ? Number(answer) : NaN;
  if (!Number.isFinite(n)) throw new ScoringError(`${item.linkId}: "${answer}" is not a number`);
  if (item.type === 'integer' && !Number.isInteger(n)) throw new ScoringError(`${item.linkId}: ${n} is not a whole number`);
  if ((item.min !== null && n < item.min) || (item.max !== null && n > item.max))
    throw new ScoringError(`${item.linkId}: ${n} is outside ${item.min ?? '…'}–${item.max ?? '…'}`);
  return n;
}

/** Round half away from zero at `decimals` places (the manuals' "one decimal"), free of binary-fraction surprises. */
export function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  const r = (Math.sign(x) * Math.round(Math.abs(x) * f + 1e-9)) / f;
  return Object.is(r, -0) ? 0 : r;
}

/** Checks every answer against the Questionnaire: unknown items and impossible answers are problems, never silently scored. */
export function checkAnswers(instrument: Instrument, answers: Answers): string[] {
  const problems: string[] = [];
  for (const [linkId, a] of Object.entries(answers)) {
    const item = instrument.items.get(linkId);
    if (!item) {
      problems.push(`${linkId}: ${instrument.id} has no such item`);
      continue;
    }
    if (a === null || a === undefined || a === '') continue;
    if (item.type === 'boolean') {
      if (typeof a !== 'boolean' && a !== 'true' && a !== 'false') problems.push(`${linkId}: "${a}" is not yes/no (true or false)`);
      continue;
    }
    if (item.type === 'string' || item.type === 'text') continue;
    try {
      itemValue(item, a);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return problems;
}

export function scoreResponse(instrument: Instrument, answers: Answers, opts: { valueSet?: string } = {}): Scored {
  const problems = checkAnswers(instrument, answers);
  const scores: Record<string, ScoreResult> = {};
  for (const s of instrument.def.scores) scores[s.id] = scoreOne(instrument, s, answers, scores, opts);
  return { instrument: instrument.id, version: instrument.version, scores, problems };
}

function scoreOne(
  inst: Instrument,
  s: ScoreDef,
  answers: Answers,
  done: Record<string, ScoreResult>,
  opts: { valueSet?: string },
): ScoreResult {
  const base = { direction: s.direction, verified: s.verified };
  const none = (reason: string, extra: Partial<ScoreResult> = {}): ScoreResult => ({ value: null, reason, ...base, ...extra });
  if (s.onlyWhen) {
    const a = answers[s.onlyWhen.item];
    if (a === undefined || a === null || String(a) !== String(s.onlyWhen.equals))
      return none(`only scored when ${s.onlyWhen.item} is ${String(s.onlyWhen.equals)}`);
  }
  if (s.method === 'scores-sum' || s.method === 'scores-mean') {
    const parts = s.scores.map((id) => done[id]?.value);
    if (parts.some((v) => typeof v !== 'number')) return none(`needs every one of ${s.scores.join(', ')}`);
    const sum = (parts as number[]).reduce((a, b) => a + b, 0);
    return finish(s, s.method === 'scores-sum' ? sum : sum / parts.length, base);
  }
  // Item values; an invalid answer counts as not answered (and is reported by checkAnswers).
  const values: Array<number | undefined> = s.items.map((l) => {
    try {
      return itemValue(inst.items.get(l)!, answers[l]);
    } catch {
      return undefined;
    }
  });
  const answered = values.filter((v): v is number => v !== undefined);
  const needed = s.method === 'item' ? 1 : (s.minAnswered ?? s.items.length);
  if (answered.length < needed)
    return none(`${answered.length} of ${s.items.length} items answered; at least ${needed} needed`, { answered: answered.length, needed });
  const counts = { answered: answered.length, needed };
  switch (s.method) {
    case 'item':
      return { ...finish(s, answered[0], base), ...counts };
    case 'profile':
      return { value: values.map((v) => String(v)).join(''), ...base, ...counts };
    case 'sum': {
      // Prorated when items may be missing: the mean of those answered, for every item.
      const mean = answered.reduce((a, b) => a + b, 0) / answered.length;
      return { ...finish(s, mean * s.items.length, base), ...counts };
    }
    case 'mean':
      return { ...finish(s, answered.reduce((a, b) => a + b, 0) / answered.length, base), ...counts };
    case 'value-set': {
      const chosen = opts.valueSet ?? inst.def.defaultValueSet!;
      let vs = inst.valueSets.get(chosen);
      if (!vs) throw new ScoringError(`${inst.id} has no value set "${chosen}" (declared: ${[...inst.valueSets.keys()].join(', ')})`);
      let placeholder = false;
      if (!vs.decrements) {
        // The chosen value set's coefficients are not entered (unverified): use the declared stand-in, and say so.
        const fallback = inst.def.fallbackValueSet ? inst.valueSets.get(inst.def.fallbackValueSet) : undefined;
        if (!fallback?.decrements || opts.valueSet)
          return none(`value set ${vs.id} has no verified coefficients`, { valueSet: vs.id, ...counts });
        vs = fallback;
        placeholder = true;
      }
      const levels = values as number[];
      const best = levels.every((l) => l === 1);
      const index = vs.start + (best ? 0 : vs.constant) + s.items.reduce((acc, l, i) => acc + vs!.decrements![l][levels[i] - 1], 0);
      return { ...finish(s, index, base), ...counts, valueSet: vs.id, ...(placeholder ? { placeholder: true } : {}) };
    }
    default:
      return none(`method ${s.method as string} is not known`);
  }
}

function finish(s: ScoreDef, raw: number, base: Pick<ScoreResult, 'direction' | 'verified'>): ScoreResult {
  let v = raw;
  if (s.rescale) {
    const {
      from: [a, b],
      to: [c, d],
    } = s.rescale;
    v = c + ((v - a) * (d - c)) / (b - a);
  }
  return { value: s.decimals === undefined ? round(v, 6) : round(v, s.decimals), ...base };
}
