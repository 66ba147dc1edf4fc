// Synthetic PROM answers for the demo's fractures, with known true rates, sent as
// QuestionnaireResponses through POST /fhir as an external PROM system would (ePROM, CheckWare):
//   - promResponse: the chance that a patient asked at a time point answers it (every instrument of
//     that time point, one day within its window);
//   - promImprovement: the chance that a patient answering the region-specific instrument at 12
//     months shows clinically relevant improvement (indicator 10): their 12-month answers are
//     within the PASS of the fracture type; the others answer worse than the PASS at 12 months,
//     and no better than at 6 weeks (so the MCII is not reached either).
// Who is asked is worked out here from the fracture register's schedule as prom.yaml states it
// (age 16 or more; EQ-5D-5L always, the anchor questions from 6 weeks, the region instrument by AO
// code; windows; alive when the window closes; a window closed before today), written out on its
// own so the platform's matching and results are checked against it, not against themselves.
// Every answer is scored with the platform's scoring here to make sure it falls on the planted side
// of the thresholds.
import type { FractureSpec } from '../../registries/fracture/bundles.ts';
import type { Instrument } from '../../src/prom/instruments.ts';
import { questionnaireResponse, responseBundle } from '../../src/prom/eprom.ts';
import { addDays, addMonths } from '../../src/prom/match.ts';
import { enabled } from '../../src/prom/responses.ts';
import { scoreResponse, type Answers } from '../../src/prom/scoring.ts';
import { osloDate } from '../../src/time/oslo.ts';
import { mulberry32 } from './generate.ts';

export const PROM_ID_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.999.9.prom-response';

/** The region-specific instrument by AO code (prom.yaml's rules), and its score (codebook prom_*_region_score). */
export const REGION_SCORE: Record<string, string> = { prwhe: 'total', quickdash: 'disability', moxfq: 'index', koos: 'qol', hoos: 'qol' };
export function regionInstrument(ao: { bone: string; segment: string }): string | null {
  if (ao.segment === '23') return 'prwhe';
  if (['1', '7', '14', '15'].includes(ao.bone) || ['21', '22'].includes(ao.segment)) return 'quickdash';
  if (['43', '44'].includes(ao.segment) || ao.bone === '8') return 'moxfq';
  if (['33', '41'].includes(ao.segment)) return 'koos';
  if (ao.bone === '6') return 'hoos';
  return null;
}
/** The registry's AO prefix (codebook ao_prefix). */
export const aoPrefix = (ao: { bone: string; segment: string }) =>
  ['5', '6', '7', '8', '14', '15', '16'].includes(ao.bone) ? ao.bone : ao.segment;

const TIMEPOINTS = [
  { id: 'baseline', months: 0, days: 0, before: 0, after: 21, recall: 'pre-injury' as const },
  { id: 'w6', months: 0, days: 42, before: 7, after: 21, recall: 'current' as const },
  { id: 'm12', months: 12, days: 0, before: 30, after: 60, recall: 'current' as const },
];

export interface PromTruth {
  /** One per fracture, time point and instrument the patient was to be asked (window closed, alive). */
  asked: Array<{ fracture: string; timepoint: string; instrument: string; answered: boolean; age: number; sex: string; prefix: string }>;
  /** Per fracture answering the region instrument at 12 months in a fracture type with thresholds: whether it was planted as improved. */
  improved: Array<{ fracture: string; prefix: string; improved: boolean }>;
}

export interface PromDemoOptions {
  seed: number;
  rates: { promResponse: number; promImprovement: number };
  instruments: Map<string, Instrument>;
  /** The AO code's bone and segment (from the registry's code list). */
  ao: (code: string) => { bone: string; segment: string } | undefined;
  /** MCII and PASS by AO prefix (the registry's parameters): a fracture type without both is not in indicator 10. */
  thresholds: (prefix: string) => { mcii: number; pass: number } | null;
  now: Date;
  batchSize?: number;
}

export function generatePromAnswers(
  fractures: FractureSpec[],
  o: PromDemoOptions,
): { bundles: Array<Record<string, unknown>>; truth: PromTruth; responses: number } {
  const random = mulberry32(o.seed ^ 0x5eed);
  const today = osloDate(o.now);
  const truth: PromTruth = { asked: [], improved: [] };
  const responses: Array<Record<string, unknown>> = [];
  for (const f of fractures) {
    const ao = o.ao(f.aoCode.split('.')[0]) ?? o.ao(f.aoCode);
    if (!ao || ao.segment === '31') continue; // the hip fracture register's, not this one's
    const injury = osloDate(f.injuryDateTime);
    const birth = f.birthDate!;
    const age = Number(injury.slice(0, 4)) - Number(birth.slice(0, 4)) - (injury.slice(5) < birth.slice(5) ? 1 : 0);
    if (age < 16) continue;
    const region = regionInstrument(ao);
    const prefix = aoPrefix(ao);
    const limits = region ? o.thresholds(prefix) : null;
    // Decided per fracture up front. The region instrument: as before the injury, answers are good;
    // at 6 weeks bad; at 12 months good (within the PASS) if improved, else the very answers of 6
    // weeks (worse than the PASS, and no change, so short of the MCII).
    const improved = random() < o.rates.promImprovement;
    const w6 = region ? makeAnswers(o.instruments.get(region)!, 'bad', random, region, limits) : null;
    for (const t of TIMEPOINTS) {
      const due = addDays(addMonths(injury, t.months), t.days);
      const opens = addDays(due, -t.before),
        closes = addDays(due, t.after);
      if (closes >= today) continue;
      if (f.deceasedDate && f.deceasedDate <= closes) continue;
      const asked = ['eq5d5l', ...(t.id === 'baseline' ? [] : ['anchor']), ...(region ? [region] : [])];
      const answers = random() < o.rates.promResponse;
      for (const instrument of asked)
        truth.asked.push({ fracture: f.id, timepoint: t.id, instrument, answered: answers, age, sex: f.gender ?? 'unknown', prefix });
      if (!answers) continue;
      // A day within the window, at a time of day in the evening (Norwegian summer or winter time alike: 18:00 UTC is the same date in Oslo).
      const span = Math.round((Date.parse(closes) - Date.parse(opens)) / 86_400_000);
      const day = addDays(opens, Math.floor(random() * (span + 1)));
      const authored = `${day}T18:00:00Z`;
      for (const instrument of asked) {
        const inst = o.instruments.get(instrument)!;
        const good = t.id === 'baseline' || (t.id === 'm12' && improved);
        const a =
          instrument === region && !good
            ? w6!
            : makeAnswers(inst, good ? 'good' : 'bad', random, instrument === region ? region : null, limits);
        responses.push(
          questionnaireResponse({
            instrument: inst,
            answers: a,
            nin: f.nin,
            authored,
            recall: t.recall,
            identifier: { system: PROM_ID_SYSTEM, value: `${f.id}-${t.id}-${instrument}` },
          }),
        );
      }
      if (t.id === 'm12' && region && limits) truth.improved.push({ fracture: f.id, prefix, improved });
    }
  }
  const size = o.batchSize ?? 50;
  const bundles: Array<Record<string, unknown>> = [];
  for (let i = 0; i < responses.length; i += size) bundles.push(responseBundle(responses.slice(i, i + size)));
  return { bundles, truth, responses: responses.length };
}

/**
 * Answers to every enabled item, near the best ("good") or the worst ("bad") an instrument allows:
 * each item at its best or worst option, a third of them one step off. For the region instrument,
 * a good answer is within the PASS and a bad one worse than it, checked by scoring (and retried).
 */
export function makeAnswers(
  inst: Instrument,
  state: 'good' | 'bad',
  random: () => number,
  region: string | null = null,
  limits: { mcii: number; pass: number } | null = null,
): Answers {
  const score = region ? REGION_SCORE[region] : inst.def.scores.find((s) => s.direction !== 'none')?.id;
  const best = bestEnd(inst, score);
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = answersAt(inst, state === 'good' ? best : best === 'low' ? 'high' : 'low', random, attempt < 40 ? 0.33 : 0);
    if (!region || !limits || !score) return a;
    const s = scoreResponse(inst, a).scores[score];
    const v = typeof s?.value === 'number' ? s.value : null;
    if (v === null) continue;
    const within = s.direction === 'higher-is-worse' ? v <= limits.pass : v >= limits.pass;
    if (within === (state === 'good')) return a;
  }
  throw new Error(`demo: could not make ${state} answers to ${inst.id} on the right side of the PASS`);
}

type End = 'low' | 'high';

/** Which end of the items' weights gives the better score (all items at their lowest, or all at their highest). */
function bestEnd(inst: Instrument, score: string | undefined): End {
  if (!score) return 'low';
  const def = inst.scores.get(score)!;
  const at = (end: End) =>
    scoreResponse(
      inst,
      answersAt(inst, end, () => 1, 0),
    ).scores[score]?.value as number;
  const low = at('low'),
    high = at('high');
  return def.direction === 'higher-is-worse' ? (low <= high ? 'low' : 'high') : low >= high ? 'low' : 'high';
}

function answersAt(inst: Instrument, end: End, random: () => number, offShare: number): Answers {
  const a: Answers = {};
  for (const item of inst.items.values()) {
    if (!enabled(item, a)) continue;
    const step = random() < offShare ? 1 : 0;
    if (item.type === 'boolean') {
      a[item.linkId] = false;
      continue;
    }
    if (item.options.length) {
      const sorted = [...item.options].filter((x) => x.weight !== null).sort((x, y) => x.weight! - y.weight!);
      if (!sorted.length) continue;
      const i = end === 'low' ? Math.min(step, sorted.length - 1) : Math.max(sorted.length - 1 - step, 0);
      a[item.linkId] = sorted[i].code;
      continue;
    }
    if (item.type === 'integer' || item.type === 'decimal') {
      const min = item.min ?? 0,
        max = item.max ?? 10;
      // An item scored on its own (a VAS, higher is better) goes the other way from weighted items.
      const own = inst.def.scores.find((s) => s.method === 'item' && s.items.includes(item.linkId));
      const wantHigh = own ? (own.direction === 'higher-is-better') === (end === 'low') : end === 'high';
      const spread = Math.round((max - min) * 0.1);
      a[item.linkId] = wantHigh ? max - step * spread : min + step * spread;
    }
  }
  return a;
}
