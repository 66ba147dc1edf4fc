// Synthetic fracture traffic with known true rates, so that what the indicators compute can be
// checked against what was planted. One hospital area's realistic year (about 6,700 fractures in a
// population of about 390,000): wrist most common, then fingers, ankle, foot; peaks in children and
// the elderly; more fractures in women over 50. Identity numbers are synthetic (month + 80).
import { generateNin } from '../../src/identity/nin.ts';
import type { FractureSpec } from '../../registries/fracture/bundles.ts';

export interface DemoRates {
  emergencyShare: number; // first contact at an emergency clinic/department
  emergencyWithin24h: number; // of emergency contacts not operated as the first choice: seen within 20 h (else after 2+ days)
  surgeryWithin24h: number; // of fractures operated as the first choice: surgery < 24 h after injury (they are seen before it)
  surgeryWithin10Days: number; // of those operated later than 24 h: within 10 days (else after 11–14 days)
  failedConservative: number; // of conservatively treated: converted to surgery
  unplannedReopClosed: number; // of operated closed fractures
  unplannedReopOpen: number; // of operated open fractures
  openShare: number;
  highEnergy: number;
  osteoporosisOffered: number; // of patients over 50 with a low-energy fracture
  secondaryPrevention: number; // of patients 50 and over
  antibiotic: number; // of operated
  tetanus: number; // of open fractures
  smoker: number;
  death12m: number; // within 12 months, patients over 65
  missingIntent: number; // left for the registrar to complete
  promResponse: number; // of patients asked at a PROM time point: answers (demo/fracture/prom.ts)
  promImprovement: number; // of patients answering the region instrument at 12 months: clinically relevant improvement (indicator 10)
}

export const DEFAULT_RATES: DemoRates = {
  emergencyShare: 0.8,
  emergencyWithin24h: 0.97,
  surgeryWithin24h: 0.55,
  surgeryWithin10Days: 0.97,
  failedConservative: 0.02,
  unplannedReopClosed: 0.04,
  unplannedReopOpen: 0.09,
  openShare: 0.03,
  highEnergy: 0.2,
  osteoporosisOffered: 0.6,
  secondaryPrevention: 0.5,
  antibiotic: 0.95,
  tetanus: 0.9,
  smoker: 0.12,
  death12m: 0.05,
  missingIntent: 0.04,
  promResponse: 0.6,
  promImprovement: 0.72,
};

/** Share of fractures by AO segment (or bone for 5–8) and the chance that it is operated. */
const SEGMENTS: Array<{ prefix: string; share: number; operated: number }> = [
  { prefix: '23', share: 0.18, operated: 0.2 },
  { prefix: '78', share: 0.1, operated: 0.05 },
  { prefix: '77', share: 0.08, operated: 0.08 },
  { prefix: '44', share: 0.09, operated: 0.3 },
  { prefix: '8', share: 0.09, operated: 0.05 },
  { prefix: '11', share: 0.06, operated: 0.15 },
  { prefix: '15', share: 0.04, operated: 0.15 },
  { prefix: '21', share: 0.04, operated: 0.2 },
  { prefix: '22', share: 0.03, operated: 0.4 },
  { prefix: '13', share: 0.02, operated: 0.5 },
  { prefix: '12', share: 0.01, operated: 0.4 },
  { prefix: '41', share: 0.01, operated: 0.6 },
  { prefix: '42', share: 0.02, operated: 0.8 },
  { prefix: '43', share: 0.01, operated: 0.6 },
  { prefix: '5', share: 0.04, operated: 0.05 },
  { prefix: '6', share: 0.03, operated: 0.1 },
  { prefix: '32', share: 0.01, operated: 0.95 },
  { prefix: '33', share: 0.01, operated: 0.8 },
  { prefix: '14', share: 0.01, operated: 0.1 },
  { prefix: '16', share: 0.0, operated: 0.1 },
  { prefix: '31', share: 0.06, operated: 0.95 },
];

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DemoOptions {
  years: number;
  scale: number;
  seed: number;
  rates: DemoRates;
  /** Valid AO codes by prefix, from the registry's code list. */
  codesByPrefix: (prefix: string) => string[];
  /** Departments to spread cases over, demo-area ones first with their weight. */
  units: Array<{ resh: string; weight: number }>;
  lastYear: number;
}

const pad = (n: number) => String(n).padStart(2, '0');
function osloIso(d: Date): string {
  // Demo times are written with the Norwegian offset of that date (CET/CEST).
  const month = d.getUTCMonth() + 1;
  const summer = month > 3 && month < 11;
  const offset = summer ? 2 : 1;
  const local = new Date(d.getTime() + offset * 3600_000);
  return `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:00+0${offset}:00`;
}

function pick<T extends { share?: number; weight?: number }>(items: T[], r: number): T {
  const total = items.reduce((s, i) => s + (i.share ?? i.weight ?? 0), 0);
  let x = r * total;
  for (const i of items) {
    x -= i.share ?? i.weight ?? 0;
    if (x <= 0) return i;
  }
  return items[items.length - 1];
}

function age(random: () => number): number {
  const r = random();
  if (r < 0.3) return Math.floor(random() * 18); // children: the first peak
  if (r < 0.55) return 18 + Math.floor(random() * 32);
  return Math.min(100, 50 + Math.floor(Math.abs(random() + random() + random() - 1.5) * 30 + random() * 20)); // the elderly peak
}

/** An unplanned reoperation at `at`, or none when it would be in the future (its cause is drawn either way). */
function reoperation(at: Date | null, random: () => number, iso: (d: Date) => string): FractureSpec['reoperations'] {
  const cause = ['infection', 'implant_failure', 'peri_implant_fracture', 'nonunion'][Math.floor(random() * 4)];
  return at ? [{ id: '1', start: iso(at), planned: false, cause }] : undefined;
}

/** Fractures for `years` years; every segment in SEGMENTS must have codes, or this throws. */
export function generateFractures(o: DemoOptions): FractureSpec[] {
  const empty = SEGMENTS.filter((s) => s.share > 0 && o.codesByPrefix(s.prefix).length === 0).map((s) => s.prefix);
  if (empty.length) throw new Error(`no AO codes for the demo's segment(s) ${empty.join(', ')}`);
  const random = mulberry32(o.seed);
  const perYear = Math.round(6700 * o.scale);
  const out: FractureSpec[] = [];
  const rate = o.rates;
  for (let y = o.lastYear - o.years + 1; y <= o.lastYear; y++) {
    for (let i = 0; i < perYear; i++) {
      const a = age(random);
      const female = a >= 50 ? random() < 0.7 : random() < 0.4;
      const seg = pick(SEGMENTS, random());
      const codes = o.codesByPrefix(seg.prefix);
      const aoCode = codes[Math.floor(random() * codes.length)];
      const injury = new Date(Date.UTC(y, 0, 1) + Math.floor(random() * 365 * 86400_000) + Math.floor(random() * 86400) * 1000);
      const birth = new Date(injury.getTime() - (a * 365.25 + random() * 360) * 86400_000);
      const birthDate = birth.toISOString().slice(0, 10);
      const emergency = random() < rate.emergencyShare;
      const open = random() < rate.openShare;
      const energy = random() < rate.highEnergy ? ('high' as const) : ('low' as const);
      let operated = random() < seg.operated;
      const failedConservative = !operated && random() < rate.failedConservative;
      if (failedConservative) operated = true;
      const intent = failedConservative
        ? ('conservative' as const)
        : operated
          ? random() < 0.3
            ? ('temporary_then_surgery' as const)
            : ('operative' as const)
          : ('conservative' as const);
      // Margins keep each planted rate exactly what its indicator measures, whatever the time of
      // day and a daylight-saving change: "within 10 days" is at most 9.5 days, "later" at least 11.2.
      let surgeryHours = 0;
      if (operated) {
        if (failedConservative) surgeryHours = 24 * (15 + random() * 20);
        else if (random() < rate.surgeryWithin24h) surgeryHours = 2 + random() * 21;
        else surgeryHours = random() < rate.surgeryWithin10Days ? 24 * (1 + random() * 8.5) : 24 * (11.2 + random() * 2.5);
      }
      // A patient operated as the first choice was seen before the operation (within 20 hours);
      // the others come to the emergency clinic within 20 hours, or late (two days or more).
      const primary = operated && !failedConservative;
      const contactHours = primary
        ? random() * Math.min(20, surgeryHours - 1)
        : emergency
          ? random() < rate.emergencyWithin24h
            ? random() * 20
            : 48 + random() * 72
          : 24 * (1 + random() * 10);
      const firstContact = new Date(injury.getTime() + contactHours * 3600_000);
      const surgeryStart = new Date(Math.max(injury.getTime() + surgeryHours * 3600_000, firstContact.getTime() + 3600_000));
      const unplanned = operated && random() < (open ? rate.unplannedReopOpen : rate.unplannedReopClosed);
      const died = a > 65 && random() < rate.death12m;
      const id = `${y}-${i}`;
      const unit = pick(o.units, random()).resh;
      // Nothing in the future has happened yet: a death or a reoperation drawn after today is left
      // out (the platform refuses dates in the future). The draws are made in the same order as
      // before, so every other value stays as it was.
      const past = (d: Date | null) => (d && d.getTime() <= Date.now() ? d : null);
      out.push({
        id,
        unitResh: unit,
        nin: generateNin({ birthDate, sex: female ? 'female' : 'male', kind: 'synthetic-fnr', random }),
        birthDate,
        gender: female ? 'female' : 'male',
        deceasedDate: died
          ? past(new Date(injury.getTime() + random() * 365 * 86400_000))
              ?.toISOString()
              .slice(0, 10)
          : undefined,
        setting: emergency ? 'EMER' : random() < 0.5 ? 'AMB' : 'IMP',
        injuryDateTime: osloIso(injury),
        firstContact: osloIso(firstContact),
        aoCode,
        side: random() < 0.5 ? 'left' : 'right',
        open,
        energy,
        intent: random() < rate.missingIntent ? undefined : intent,
        failedConservative: operated ? failedConservative : undefined,
        smoker: random() < 0.6 ? random() < rate.smoker : undefined,
        vertebralImaging: seg.prefix === '5' ? (random() < 0.85 ? (random() < 0.5 ? 'ct' : 'xray') : 'none') : undefined,
        recommendedCentre: seg.prefix === '6' ? random() < 0.9 : undefined,
        secondaryPrevention: a >= 50 ? random() < rate.secondaryPrevention : undefined,
        osteoporosisOffered: a > 50 && energy === 'low' ? random() < rate.osteoporosisOffered : undefined,
        antibiotic: operated ? random() < rate.antibiotic : undefined,
        tetanus: open ? random() < rate.tetanus : undefined,
        surgery: operated ? { start: osloIso(surgeryStart), ncsp: 'NCJ62' } : undefined,
        reoperations: unplanned
          ? reoperation(past(new Date(surgeryStart.getTime() + (10 + random() * 200) * 86400_000)), random, osloIso)
          : undefined,
      });
    }
  }
  return out;
}
