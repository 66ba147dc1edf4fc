// Synthetic trauma events for the demo: the trauma register's messages from the hospitals' record
// systems, sent through the same FHIR API as the fractures. Plausible, not real: about 420 events a
// year at scale 1 (the demo area's emergency department getting most), mostly men, falls and
// traffic, injuries from a small list of AIS 2008 codes, a few transfers from a local hospital to
// the demo area's trauma hospital (the same trauma event: one trauma ID), and some deaths.
import { generateNin } from '../../src/identity/nin.ts';
import type { TraumaSpec } from '../../registries/trauma/bundles.ts';
import { mulberry32 } from '../fracture/generate.ts';

export interface TraumaDemoOptions {
  years: number;
  scale: number;
  seed: number;
  lastYear: number;
  /** Emergency departments receiving trauma patients, with their weight; `trauma` for the one transfers go to. */
  units: Array<{ resh: string; weight: number; trauma?: boolean; hospital: string }>;
}

const MECHANISMS: Array<[string, number, 'blunt' | 'penetrating']> = [
  ['fall_low', 0.28, 'blunt'],
  ['fall_high', 0.12, 'blunt'],
  ['traffic_motor_vehicle', 0.18, 'blunt'],
  ['traffic_motorcycle', 0.07, 'blunt'],
  ['traffic_bicycle', 0.09, 'blunt'],
  ['traffic_pedestrian', 0.05, 'blunt'],
  ['struck', 0.08, 'blunt'],
  ['stab', 0.04, 'penetrating'],
  ['shot', 0.01, 'penetrating'],
  ['other', 0.08, 'blunt'],
];
// AIS 2008 codes by body region, with the severity after the point.
const INJURIES = [
  '140602.3',
  '140602.4',
  '140208.6',
  '040602.2',
  '450203.3',
  '450211.2',
  '450211.4',
  '541812.2',
  '541826.4',
  '544222.3',
  '544226.5',
  '650016.2',
  '650216.3',
  '853000.3',
  '853422.3',
];
const DISPOSITIONS = ['home', 'home', 'home', 'rehab', 'snf', 'oth'];

const pick = <T>(rnd: () => number, list: Array<[T, number, ...unknown[]]>): [T, number, ...unknown[]] => {
  let x = rnd() * list.reduce((s, l) => s + l[1], 0);
  for (const l of list) {
    x -= l[1];
    if (x <= 0) return l;
  }
  return list[list.length - 1];
};
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

export function generateTraumaEvents(o: TraumaDemoOptions): TraumaSpec[] {
  const rnd = mulberry32(o.seed + 1000);
  const perYear = Math.round(420 * o.scale);
  const totalWeight = o.units.reduce((s, u) => s + u.weight, 0);
  const receiving = o.units.find((u) => u.trauma) ?? o.units[0];
  const out: TraumaSpec[] = [];
  let n = 0;
  for (let y = o.lastYear - o.years + 1; y <= o.lastYear; y++) {
    for (let i = 0; i < perYear; i++) {
      let w = rnd() * totalWeight;
      const unit = o.units.find((u) => (w -= u.weight) <= 0) ?? o.units[0];
      const male = rnd() < 0.7;
      const age = Math.min(95, Math.floor(rnd() < 0.1 ? rnd() * 16 : 16 + rnd() * rnd() * 80));
      const accident = Date.UTC(y, 0, 1) + Math.floor(rnd() * 364) * 86_400_000 + Math.floor(rnd() * 24 * 60) * 60_000;
      const birth = new Date(accident - (age * 365.25 + rnd() * 300) * 86_400_000).toISOString().slice(0, 10);
      const [mechanism, , injuryType] = pick(rnd, MECHANISMS) as [string, number, 'blunt' | 'penetrating'];
      const ais = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => INJURIES[Math.floor(rnd() * INJURIES.length)]);
      const severe = ais.some((c) => Number(c.slice(-1)) >= 4);
      const arrival = accident + (20 + Math.floor(rnd() * 70)) * 60_000;
      const traumaTeam = rnd() < (severe ? 0.9 : 0.8);
      const dead = rnd() < (severe ? 0.12 : 0.01);
      const spec: TraumaSpec = {
        id: `demo-ntr-${++n}`,
        nin: generateNin({ birthDate: birth, sex: male ? 'male' : 'female', kind: 'synthetic-fnr', random: rnd }),
        unitResh: unit.resh,
        arrival: iso(arrival),
        traumaTeam,
        ...(traumaTeam ? {} : { inclusionBasis: injuryType === 'penetrating' ? 'penetrating' : 'niss-over-12' }),
        accident: { at: iso(accident), estimated: rnd() < 0.05 },
        mechanism,
        intention: mechanism === 'stab' || mechanism === 'shot' || mechanism === 'struck' ? 'assault' : 'accident',
        injuryType,
        arrivalVitals: {
          gcs: severe && rnd() < 0.4 ? 3 + Math.floor(rnd() * 10) : 13 + Math.floor(rnd() * 3),
          sbp: severe && rnd() < 0.3 ? 70 + Math.floor(rnd() * 25) : 100 + Math.floor(rnd() * 50),
          rr: 10 + Math.floor(rnd() * 20),
        },
        ais,
        ...(rnd() < 0.85 ? { ct: iso(arrival + (5 + Math.floor(rnd() * (rnd() < 0.85 ? 50 : 150))) * 60_000) } : {}),
        ...(severe && rnd() < 0.2 ? { intubated: true, emergencySurgery: iso(arrival + (40 + Math.floor(rnd() * 120)) * 60_000) } : {}),
        discharge: {
          at: iso(arrival + (1 + Math.floor(rnd() * 14)) * 86_400_000),
          disposition: dead ? 'exp' : DISPOSITIONS[Math.floor(rnd() * DISPOSITIONS.length)],
        },
      };
      // A local hospital's severely injured patient is transferred to the trauma hospital the next
      // day: the receiving hospital registers in the same trauma event.
      if (severe && unit.hospital !== receiving.hospital && !dead && rnd() < 0.5) {
        const at = arrival + 86_400_000;
        spec.discharge = { at: iso(at - 3_600_000), disposition: 'other-hcf' };
        out.push(spec, {
          ...spec,
          id: `demo-ntr-${++n}`,
          unitResh: receiving.resh,
          transferredFrom: unit.hospital,
          arrival: iso(at),
          traumaTeam: false,
          inclusionBasis: 'niss-over-12',
          ct: undefined,
          intubated: undefined,
          emergencySurgery: undefined,
          discharge: { at: iso(at + 7 * 86_400_000), disposition: 'rehab' },
        });
        continue;
      }
      out.push(spec);
    }
  }
  return out;
}
