// The trauma register's injury and physiology scores (registries/trauma/functions.ts) against
// published definitions and worked examples. Each test names its source.
import { describe, expect, it } from 'vitest';
import {
  aisValid,
  gcsCoded,
  headAis,
  iss,
  issRegionOf,
  maxAis,
  niss,
  rrCoded,
  rts,
  sbpCoded,
  triageRts,
  trissAgeIndex,
  trissPs,
} from '../registries/trauma/functions.ts';
import { loadRegistry } from '../src/registry/load.ts';
import { caseValues } from '../src/records/evaluate.ts';

describe('ISS (Baker SP et al., J Trauma 1974;14:187–96)', () => {
  it('scores the classic worked example: head/neck 3, chest 4, abdomen 2 and 5, extremity 3 → 50', () => {
    // Baker's example as taught (e.g. the ISS entry of the trauma literature): the highest AIS of the
    // three most severely injured regions, squared and summed: 5² (abdomen) + 4² (chest) + 3² = 50.
    // Codes: a chapter and severity of the right kind for each injury (head 1…, thorax 4…, abdomen 5…, lower extremity 8…).
    const codes = ['140602.3', '450211.4', '541812.2', '544226.5', '853000.3'].join(',');
    expect(iss(codes)).toBe(50);
    expect(maxAis(codes)).toBe(5);
    expect(headAis(codes)).toBe(3);
  });

  it('gives 75 for any AIS 6 injury, whatever the rest', () => {
    // Baker 1974 / AAAM: an AIS 6 injury sets ISS (and NISS) to 75.
    expect(iss('140208.6,853000.2')).toBe(75);
    expect(niss('140208.6')).toBe(75);
  });

  it('does not score severity 9 (unknown), and has no score without a scorable injury', () => {
    // AIS 9 = "not further specified/unknown severity": it cannot be squared; the rule is documented in functions.ts.
    expect(iss('140602.9,853000.3')).toBe(9);
    expect(iss('140602.9')).toBeNull();
    expect(iss(null)).toBeNull();
    expect(maxAis('')).toBeNull();
  });

  it('puts the spine in the region of its level and skin injuries in the external region', () => {
    expect(issRegionOf('650216')).toBe('head_neck'); // cervical
    expect(issRegionOf('650416')).toBe('chest'); // thoracic
    expect(issRegionOf('650616')).toBe('abdomen'); // lumbar
    expect(issRegionOf('410402')).toBe('external'); // skin contusion of the thorax
    expect(issRegionOf('912016')).toBe('external'); // chapter 9: burns, other trauma
    // Cervical spine 3 and head 4 share the head/neck region: only the 4 counts there.
    expect(iss('140650.4,650216.3,450203.3')).toBe(16 + 9);
  });

  it('accepts only NNNNNN.S codes with a severity 1–6 or 9 and a known region', () => {
    expect(aisValid('140602.3')).toBe(true);
    expect(aisValid('140602.7')).toBe(false);
    expect(aisValid('14060.3')).toBe(false);
    expect(aisValid('140602')).toBe(false);
    expect(aisValid('650016.2')).toBe(false); // spine without a level
    expect(aisValid('a40602.2')).toBe(false);
    expect(aisValid(null)).toBeNull();
  });

  it('scores chapter 0, other trauma (drowning, asphyxia, hypothermia, electrical injury), in the external and other region', () => {
    // Sources: AIS 2005 update 2008 has ten chapters by first digit, 0 being "Other Trauma" (NHTSA's
    // crash injury data dictionaries for AIS 2005/2008: region 0 Other Trauma, 1 Head … 9 Unspecified;
    // the Norwegian trauma registry's reporting counts 0….. codes as "andre skader": drowning, asphyxia,
    // hypothermia, electrical injury, hypothermia being 01….). ISS region: "external and other"
    // (NSW Agency for Clinical Innovation, ITIM, "Abbreviated Injury Scale": electrical injury,
    // frostbite, hypothermia, whole-body injuries). Its guidance puts asphyxia in head/neck and drowning
    // in chest; which chapter-0 codes those are is in the licensed dictionary only, so every chapter-0
    // code is scored as external (functions.ts says so). The codes below have the form of chapter-0
    // codes (0 + five digits); the dictionary's own numbers are not public.
    expect(aisValid('010000.4')).toBe(true);
    expect(issRegionOf('010000')).toBe('external');
    expect(issRegionOf('090000')).toBe('external');
    // Severe hypothermia (4) with a thoracic injury (4): two regions, 16 + 16; before, the chapter-0
    // code was refused and ISS and NISS were 16, understating the patient's injury.
    expect(iss('010000.4,450211.4')).toBe(32);
    expect(niss('010000.4,450211.4')).toBe(32);
    expect(maxAis('010000.4,450211.4')).toBe(4);
    // Alone, it makes NISS over 12 (an inclusion criterion): 4² = 16.
    expect(niss('010000.4')).toBe(16);
    // A skin injury of chapter 0 is not a "skin of a body region" code: chapter 0 is external as a whole.
    expect(issRegionOf('010402')).toBe('external');
    // Severity 6 in chapter 0 is maximal like any other.
    expect(iss('010000.6,853000.2')).toBe(75);
  });
});

describe('NISS (Osler T et al., J Trauma 1997;43:922–5)', () => {
  it('counts two injuries in one region, which ISS does not', () => {
    // Osler's point: abdomen 5 and 4 (two injuries, one region), head 3. ISS takes the abdomen once
    // (5² + 3² = 34); NISS takes the three worst injuries anywhere (5² + 4² + 3² = 50).
    const codes = '544226.5,541826.4,140602.3';
    expect(iss(codes)).toBe(34);
    expect(niss(codes)).toBe(50);
  });

  it('equals ISS when every injury is in its own region, and sums fewer than three injuries', () => {
    expect(niss('140602.3,450211.4,853000.2')).toBe(iss('140602.3,450211.4,853000.2'));
    expect(niss('853000.3')).toBe(9);
    expect(niss('853000.3,853000.3,853000.3,853000.3')).toBe(27);
  });
});

describe('RTS (Champion HR et al., J Trauma 1989;29:623–9)', () => {
  it('codes the band edges of GCS, systolic blood pressure and respiratory rate', () => {
    // Champion 1989, table 1: GCS 13–15=4, 9–12=3, 6–8=2, 4–5=1, 3=0.
    expect([15, 13, 12, 9, 8, 6, 5, 4, 3].map(gcsCoded)).toEqual([4, 4, 3, 3, 2, 2, 1, 1, 0]);
    // SBP >89=4, 76–89=3, 50–75=2, 1–49=1, 0=0.
    expect([90, 89, 76, 75, 50, 49, 1, 0].map(sbpCoded)).toEqual([4, 3, 3, 2, 2, 1, 1, 0]);
    // RR 10–29=4, >29=3, 6–9=2, 1–5=1, 0=0.
    expect([30, 29, 10, 9, 6, 5, 1, 0].map(rrCoded)).toEqual([3, 4, 4, 2, 2, 1, 1, 0]);
    expect(gcsCoded(2)).toBeNull();
    expect(gcsCoded(16)).toBeNull();
  });

  it('weights the coded values 0.9368, 0.7326 and 0.2908: maximum 7.8408, minimum 0', () => {
    expect(rts(15, 120, 16)).toBe(7.8408);
    expect(rts(3, 0, 0)).toBe(0);
    // GCS 8 → 2, SBP 80 → 3, RR 32 → 3: 0.9368·2 + 0.7326·3 + 0.2908·3 = 1.8736 + 2.1978 + 0.8724 = 4.9438.
    expect(rts(8, 80, 32)).toBe(4.9438);
    expect(triageRts(8, 80, 32)).toBe(8);
    expect(triageRts(15, 120, 16)).toBe(12);
    expect(rts(15, null, 16)).toBeNull();
  });
});

describe('TRISS (Boyd CR et al., J Trauma 1987;27:370–8; MTOS coefficients, Champion HR et al., J Trauma 1990;30:1356–65)', () => {
  it('uses the age index 0 up to 54 and 1 from 55', () => {
    expect([0, 54, 55, 90].map(trissAgeIndex)).toEqual([0, 0, 1, 1]);
  });

  it('computes Ps = 1/(1+e^-b) with the blunt and penetrating coefficients', () => {
    // Blunt, RTS 7.8408, ISS 9, age 30: b = −1.2470 + 0.9544·7.8408 − 0.0768·9 − 1.9052·0
    //   = −1.2470 + 7.48326 − 0.6912 = 5.54506 → Ps = 1/(1+e^−5.54506) = 0.99611.
    expect(trissPs('blunt', 7.8408, 9, 30)).toBeCloseTo(0.9961, 4);
    // Blunt, RTS 4.9438, ISS 34, age 70: b = −1.2470 + 4.71836 − 2.6112 − 1.9052 = −1.04504 → e^1.04504 = 2.8435 → Ps = 0.26018.
    expect(trissPs('blunt', 4.9438, 34, 70)).toBeCloseTo(0.2602, 4);
    // Penetrating, RTS 7.8408, ISS 25, age 25: b = −0.6029 + 8.96203 − 3.79 − 0 = 4.56913 → Ps = 0.98974.
    expect(trissPs('penetrating', 7.8408, 25, 25)).toBeCloseTo(0.9897, 4);
  });

  it('scores children under 15 with the blunt coefficients whatever the injury type', () => {
    expect(trissPs('penetrating', 7.8408, 25, 14)).toBe(trissPs('blunt', 7.8408, 25, 14));
    expect(trissPs('penetrating', 7.8408, 25, 15)).not.toBe(trissPs('blunt', 7.8408, 25, 15));
    expect(trissPs(null, 7.8408, 25, 30)).toBeNull();
  });
});

describe('the repeating injury form reaches the scores through a collect variable', () => {
  it("gives the instances' AIS codes as one sorted text, and the derived scores from it", async () => {
    const r = await loadRegistry('registries/trauma');
    const person = { birth_date: '1990-01-01', sex: 'female', deceased_date: null };
    const injury = (instance: string, ais_code: string) => ({ form: 'skadegradering', instance, data: { ais_code } });
    const v = caseValues(r, person, [
      { form: 'traumeperiode', instance: '', data: { accident_date: '2024-01-10' } },
      injury('c', '853000.3'),
      injury('a', '544226.5'),
      injury('b', '541826.4'),
      { form: 'skadegradering', instance: 'd', data: {} },
    ]);
    expect(v.ais_codes).toBe('541826.4,544226.5,853000.3');
    expect(v.iss).toBe(25 + 9);
    expect(v.niss).toBe(25 + 16 + 9);
    expect(caseValues(r, person, []).ais_codes).toBeNull();
  });
});
