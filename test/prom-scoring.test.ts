// PROM scoring against the instruments' own scoring rules and published values. Each expected
// value names its source; where a source gives only the formula (most manuals), the expected value
// is worked out by hand in the comment beside it, so a change of rule or weight fails here.
// Missing-item edges: one answer fewer than the rule allows gives no score.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { answersFromResponse } from '../src/prom/answers.ts';
import { InstrumentError, loadInstruments } from '../src/prom/instruments.ts';
import { scoreResponse, type Answers } from '../src/prom/scoring.ts';

const all = loadInstruments('instruments');
const score = (id: string, answers: Answers, valueSet?: string) => scoreResponse(all.get(id)!, answers, { valueSet }).scores;
const fill = (prefix: string, values: Array<number | string | undefined>): Answers =>
  Object.fromEntries(values.map((v, i) => [`${prefix}${i + 1}`, v === undefined ? undefined : String(v)]));
const same = (n: number, v: number | string) => Array.from({ length: n }, () => v);

it('loads every instrument the fracture register names (seed 000 §2.2)', () => {
  expect([...all.keys()].sort()).toEqual(['anchor', 'atrs', 'eq5d5l', 'hoos', 'hoos12', 'koos', 'koos12', 'moxfq', 'prwhe', 'quickdash']);
  // Item counts as the annual report gives them: MOxFQ 16, QuickDASH 11 (+ modules), HOOS 40, KOOS 42, ATRS 10.
  const scored = (id: string, score: string) => all.get(id)!.scores.get(score)!.items.length;
  expect(scored('moxfq', 'index')).toBe(16);
  expect(scored('quickdash', 'disability')).toBe(11);
  expect(['pain', 'symptoms', 'adl', 'sport', 'qol'].reduce((n, s) => n + scored('hoos', s), 0)).toBe(40);
  expect(['pain', 'symptoms', 'adl', 'sport', 'qol'].reduce((n, s) => n + scored('koos', s), 0)).toBe(42);
  expect(scored('atrs', 'total')).toBe(10);
  expect(['pain', 'function', 'qol'].reduce((n, s) => n + scored('koos12', s), 0)).toBe(12);
});

describe('EQ-5D-5L', () => {
  const state = (p: string): Answers => ({ mobility: p[0], selfcare: p[1], usual: p[2], pain: p[3], anxiety: p[4] });
  it('index with the English value set: Devlin et al. 2018 give −0.285 for 55555 and 0.950 for the best state below full health', () => {
    expect(score('eq5d5l', state('55555'), 'en-2018').index.value).toBe(-0.285);
    expect(score('eq5d5l', state('12111'), 'en-2018').index.value).toBe(0.95);
    expect(score('eq5d5l', state('11211'), 'en-2018').index.value).toBe(0.95);
    expect(score('eq5d5l', state('11111'), 'en-2018').index.value).toBe(1);
  });
  it('profile and VAS as the user guide describes them (five digits in dimension order; VAS as marked)', () => {
    const s = score('eq5d5l', { ...state('21341'), vas: 65 });
    expect(s.profile.value).toBe('21341');
    expect(s.vas.value).toBe(65);
  });
  // Garratt AM, Stavem K, Shaw JW, Rand K. EQ-5D-5L value set for Norway: a hybrid model using cTTO
  // and DCE data. Qual Life Res 2024, doi:10.1007/s11136-024-03837-3. The abstract: "Predicted values
  // ranged from −0.453 to 1". The states in between are worked out by hand from the coefficient table
  // (1 + the decrement of each dimension's level), rounded to three decimals as the index is.
  it('index with the Norwegian value set (Garratt et al. 2024), the default: 55555 is −0.453 and 11111 is 1, as the abstract gives', () => {
    const no = all.get('eq5d5l')!.valueSets.get('no-2024')!;
    expect(no.status).toBe('verified');
    expect(all.get('eq5d5l')!.def.defaultValueSet).toBe('no-2024');
    expect(score('eq5d5l', state('55555'), 'no-2024').index.value).toBe(-0.453);
    expect(score('eq5d5l', state('11111'), 'no-2024').index.value).toBe(1);
    // The default is used without naming it, and is no stand-in any more.
    const s = score('eq5d5l', state('55555')).index;
    expect(s).toMatchObject({ value: -0.453, valueSet: 'no-2024' });
    expect(s.placeholder).toBeUndefined();
    // 1 − (0.03116 + 0.031312 + 0.027208 + 0.059432 + 0.071744) = 0.779144
    expect(score('eq5d5l', state('22222')).index.value).toBe(0.779);
    // 1 − (0.064985 + 0.065302 + 0.056743 + 0.123947 + 0.149624) = 0.539399
    expect(score('eq5d5l', state('33333')).index.value).toBe(0.539);
    // 1 − (0.158875 + 0.15965 + 0.138725 + 0.303025 + 0.3658) = −0.126075
    expect(score('eq5d5l', state('44444')).index.value).toBe(-0.126);
    // 1 − (0 + 0.206 + 0.138725 + 0.123947 + 0.071744) = 0.459584
    expect(score('eq5d5l', state('15432')).index.value).toBe(0.46);
    // A check on the table as entered (a typo would break it): the hybrid model gives every
    // dimension the same level weights, so levels 2, 3 and 4 are 0.152, 0.317 and 0.775 of level 5.
    for (const d of Object.values(no.decrements!) as number[][])
      expect([d[1] / d[4], d[2] / d[4], d[3] / d[4]].map((x) => Math.round(x * 1000) / 1000)).toEqual([0.152, 0.317, 0.775]);
    // The worst level of each dimension alone: the abstract ranks anxiety/depression highest, then
    // pain/discomfort, self-care, mobility and usual activities.
    const alone = ['51111', '15111', '11511', '11151', '11115'].map((p) => score('eq5d5l', state(p)).index.value as number);
    const order = [4, 3, 1, 0, 2].map((i) => alone[i]);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
  it('one dimension missing: no index and no profile', () => {
    const s = score('eq5d5l', { mobility: '1', selfcare: '1', usual: '1', pain: '1' });
    expect(s.index.value).toBeNull();
    expect(s.profile.value).toBeNull();
  });
});

describe('QuickDASH (IWH: ((sum/n) − 1) × 25; at most 1 of 11 missing; modules need all 4)', () => {
  it('scale ends and worked examples', () => {
    expect(score('quickdash', fill('q', same(11, 1))).disability.value).toBe(0);
    expect(score('quickdash', fill('q', same(11, 5))).disability.value).toBe(100);
    // 3,3,3,3,3,3,3,3,2,2,2 → sum 30, n 11: (30/11 − 1) × 25 = 43.18… → 43.2
    expect(score('quickdash', fill('q', [3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2])).disability.value).toBe(43.2);
  });
  it('10 of 11 answered is scored over 10; 9 of 11 is not', () => {
    // sum 30, n 10: (3 − 1) × 25 = 50
    expect(score('quickdash', fill('q', [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, undefined])).disability.value).toBe(50);
    const s = score('quickdash', fill('q', [3, 3, 3, 3, 3, 3, 3, 3, 3, undefined, undefined])).disability;
    expect(s.value).toBeNull();
    expect(s.reason).toMatch(/9 of 11.*at least 10/);
  });
  it('work module: all four items, and only when the patient says it applies', () => {
    const work = { work_applies: true, ...fill('work', [2, 2, 3, 3]) };
    expect(score('quickdash', work).work.value).toBe(37.5); // mean 2.5 → (2.5 − 1) × 25
    expect(score('quickdash', { ...work, work4: undefined }).work.value).toBeNull();
    expect(score('quickdash', { ...work, work_applies: false }).work.value).toBeNull();
  });
});

describe('PRWHE (MacDermid 1998: pain = sum of 5; function = sum of 10 / 2; total = pain + function)', () => {
  const full = (p: number, f: number) => ({ ...fill('pain', same(5, p)), ...fill('func', same(6, f)), ...fill('usual', same(4, f)) });
  it('worked example and ends', () => {
    // pain 5 × 5 = 25; function 10 × 4 = 40 / 2 = 20; total 45
    expect(score('prwhe', full(5, 4))).toMatchObject({ pain: { value: 25 }, function: { value: 20 }, total: { value: 45 } });
    expect(score('prwhe', full(10, 10)).total.value).toBe(100);
    expect(score('prwhe', full(0, 0)).total.value).toBe(0);
  });
  it('missing-item rule not verified: one item missing gives no subscale and no total', () => {
    const s = score('prwhe', { ...full(5, 4), pain5: undefined });
    expect(s.pain.value).toBeNull();
    expect(s.total.value).toBeNull();
    expect(s.function.value).toBe(20);
    expect(all.get('prwhe')!.scores.get('pain')!.verified).toBe(false);
  });
  it('an answer outside 0–10 is reported and not used', () => {
    const r = scoreResponse(all.get('prwhe')!, { ...full(5, 4), pain1: 11 });
    expect(r.problems.join()).toMatch(/pain1: 11 is outside 0–10/);
    expect(r.scores.pain.value).toBeNull();
  });
});

describe('MOxFQ (Dawson 2006: domains 0–100 from raw sums; Morley 2013: Index over 16 items)', () => {
  it('worked examples', () => {
    const a = { ...fill('ws', [2, 2, 2, 2, 2, 2, 2]), ...fill('pain', [1, 1, 1, 1, 1]), ...fill('si', [2, 2, 2, 2]) };
    const s = score('moxfq', a);
    expect(s.walking_standing.value).toBe(50); // 14 / 28
    expect(s.pain.value).toBe(25); // 5 / 20
    expect(s.social_interaction.value).toBe(50); // 8 / 16
    expect(s.index.value).toBe(42.2); // 27 / 64 × 100 = 42.1875
    expect(score('moxfq', { ...fill('ws', same(7, 4)), ...fill('pain', same(5, 4)), ...fill('si', same(4, 4)) }).index.value).toBe(100);
  });
  it('one item missing: that domain and the Index are not scored', () => {
    const s = score('moxfq', { ...fill('ws', [2, 2, 2, 2, 2, 2, undefined]), ...fill('pain', same(5, 1)), ...fill('si', same(4, 2)) });
    expect(s.walking_standing.value).toBeNull();
    expect(s.index.value).toBeNull();
    expect(s.pain.value).toBe(25);
  });
});

describe('KOOS (KOOS Scoring 2012: 100 − mean × 25; at least 50 % of a subscale answered)', () => {
  it('worked examples', () => {
    expect(score('koos', fill('p', same(9, 1))).pain.value).toBe(75);
    // 2,2,2,2,2,1,1,1,1 → mean 14/9 = 1.556 → 100 − 38.89 = 61.1
    expect(score('koos', fill('p', [2, 2, 2, 2, 2, 1, 1, 1, 1])).pain.value).toBe(61.1);
    expect(score('koos', fill('q', same(4, 4))).qol.value).toBe(0);
    expect(score('koos', fill('q', same(4, 0))).qol.value).toBe(100);
  });
  it('the 2012 minimum per subscale: Pain 5, Symptoms 4, ADL 9, Sport/Rec 3, QOL 2; one fewer gives no score', () => {
    const minimum = { pain: ['p', 9, 5], symptoms: ['s', 7, 4], adl: ['a', 17, 9], sport: ['sp', 5, 3], qol: ['q', 4, 2] } as const;
    for (const [sub, [prefix, n, min]] of Object.entries(minimum)) {
      const enough = fill(
        prefix,
        Array.from({ length: n }, (_, i) => (i < min ? 2 : undefined)),
      );
      const tooFew = fill(
        prefix,
        Array.from({ length: n }, (_, i) => (i < min - 1 ? 2 : undefined)),
      );
      expect(score('koos', enough)[sub].value, `${sub} with ${min}`).toBe(50);
      expect(score('koos', tooFew)[sub].value, `${sub} with ${min - 1}`).toBeNull();
    }
  });
});

describe('HOOS (scored as KOOS; 50 % rule applied by analogy, declared unverified)', () => {
  it('worked example and the edge', () => {
    expect(score('hoos', fill('p', same(10, 3))).pain.value).toBe(25);
    expect(score('hoos', fill('p', [3, 3, 3, 3, 3, undefined, undefined, undefined, undefined, undefined])).pain.value).toBe(25);
    expect(score('hoos', fill('p', [3, 3, 3, 3, undefined, undefined, undefined, undefined, undefined, undefined])).pain.value).toBeNull();
    expect(all.get('hoos')!.scores.get('pain')!.verified).toBe(false);
  });
});

describe('KOOS-12 and HOOS-12 (koos.nu: summated 0–16 → 100–0; 2 of 4 items with person-specific imputation; summary = mean of 3 scales)', () => {
  for (const id of ['koos12', 'hoos12']) {
    it(`${id}: worked examples, imputation and the edge`, () => {
      // 1,2,3,4 → 10 of 16 → 100 − 62.5 = 37.5
      expect(score(id, fill('p', [1, 2, 3, 4])).pain.value).toBe(37.5);
      // 1 and 3 answered: estimate 2 for each missing → 8 of 16 → 50
      expect(score(id, fill('p', [1, undefined, 3, undefined])).pain.value).toBe(50);
      expect(score(id, fill('p', [1, undefined, undefined, undefined])).pain.value).toBeNull();
      // pain 37.5, function 75 (all 1), qol 0 (all 4) → summary 37.5
      const s = score(id, { ...fill('p', [1, 2, 3, 4]), ...fill('f', same(4, 1)), ...fill('q', same(4, 4)) });
      expect(s.summary.value).toBe(37.5);
      expect(score(id, { ...fill('p', [1, 2, 3, 4]), ...fill('f', same(4, 1)) }).summary.value).toBeNull();
    });
  }
});

describe('ATRS (Nilsson-Helander 2007: ten items 0–10 summed, 0–100, higher is better)', () => {
  it('worked example within the healthy range the paper reports (94–100)', () => {
    expect(score('atrs', fill('atrs', [10, 10, 10, 9, 10, 10, 10, 10, 10, 5])).total.value).toBe(94);
    expect(score('atrs', fill('atrs', same(10, 10))).total.value).toBe(100);
  });
  it('nine of ten answered: no score (no published missing-item rule)', () => {
    expect(score('atrs', fill('atrs', [...same(9, 10), undefined])).total.value).toBeNull();
  });
});

it('anchor questions are reported as answered', () => {
  const s = score('anchor', { satisfaction: '2', change: '3', wants_visit: true });
  expect(s.satisfaction.value).toBe(2);
  expect(s.change.value).toBe(3);
});

it('an unknown item and a code that is not an option are problems, never scored', () => {
  const r = scoreResponse(all.get('koos')!, { ...fill('q', same(4, 2)), q9: '1', q1: '7' });
  expect(r.problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/q9: koos has no such item/),
      expect.stringMatching(/q1: "7" is not one of its answers/),
    ]),
  );
  expect(r.scores.qol.value).toBe(50); // q1 left out: 3 of 4 answered, mean 2
});

it('reads a FHIR QuestionnaireResponse the same as flat answers', () => {
  const qr = {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    item: [
      {
        linkId: 'main',
        item:
          fill('q', same(11, 2)) &&
          Object.entries(fill('q', same(11, 2))).map(([linkId, v]) => ({ linkId, answer: [{ valueCoding: { code: v } }] })),
      },
    ],
  };
  expect(score('quickdash', answersFromResponse(qr)).disability.value).toBe(25);
  expect(() =>
    answersFromResponse({
      resourceType: 'QuestionnaireResponse',
      item: [{ linkId: 'q1', answer: [{ valueCoding: { code: '1' } }, { valueCoding: { code: '2' } }] }],
    }),
  ).toThrow(/2 answers/);
});

describe('declarations', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-instr-'));
  it('a broken declaration names the file and the problem', () => {
    const dir = tmp();
    fs.cpSync('instruments/koos12', path.join(dir, 'koos12'), { recursive: true });
    const y = path.join(dir, 'koos12', 'instrument.yaml');
    fs.writeFileSync(
      y,
      fs
        .readFileSync(y, 'utf8')
        .replace('items: [p1, p2, p3, p4]', 'items: [p1, p2, p3, p5]')
        .replace(
          'range: [0, 100]\n    direction: higher-is-better\n    source: koos12\n  - id: function',
          'range: [0, 90]\n    direction: higher-is-better\n    source: koos12\n  - id: function',
        ),
    );
    let err: unknown;
    try {
      loadInstruments(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InstrumentError);
    expect((err as InstrumentError).problems.join('\n')).toMatch(
      /koos12\/instrument\.yaml: scores\[0\] \(pain\)\.items: the Questionnaire has no item "p5"/,
    );
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('a declared range the weights cannot give is refused', () => {
    const dir = tmp();
    fs.cpSync('instruments/atrs', path.join(dir, 'atrs'), { recursive: true });
    const y = path.join(dir, 'atrs', 'instrument.yaml');
    fs.writeFileSync(y, fs.readFileSync(y, 'utf8').replace('range: [0, 100]', 'range: [0, 50]'));
    expect(() => loadInstruments(dir)).toThrow(/declared \[0, 50\] but the items' weights give \[0, 100\]/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it("licensed texts from the licensee's file replace the placeholders by linkId; texts for unknown items are refused", () => {
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'atrs.json'), JSON.stringify({ items: { atrs1: 'Licensed text one' } }));
    const withTexts = loadInstruments('instruments', { textsDir: dir }).get('atrs')!;
    expect(withTexts.textsLoaded).toBe(true);
    expect(withTexts.items.get('atrs1')!.text).toBe('Licensed text one');
    expect(all.get('atrs')!.items.get('atrs1')!.text).toMatch(/Plassholder/);
    fs.writeFileSync(path.join(dir, 'atrs.json'), JSON.stringify({ items: { nope: 'x' } }));
    expect(() => loadInstruments('instruments', { textsDir: dir })).toThrow(/texts for items the Questionnaire does not have: nope/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('src/ holds no instrument knowledge: no instrument is named in its code', () => {
    // Ids in any case (except the anchor questions' id, an ordinary word), titles and acronyms as written.
    const ids = new RegExp(`\\b(${[...all.keys()].filter((id) => id !== 'anchor').join('|')})\\b`, 'i');
    const titles = new RegExp(
      `\\b(${[...all.values()]
        .filter((i) => i.id !== 'anchor')
        .map((i) => i.def.title.en.replace(/[-/]/g, '.?'))
        .join('|')}|EQ.?5D|DASH|PRWH?E)\\b`,
    );
    const names = { exec: (t: string) => ids.exec(t) ?? titles.exec(t), test: (t: string) => ids.test(t) || titles.test(t) };
    const found: string[] = [];
    const walk = (d: string): string[] =>
      fs
        .readdirSync(d, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.ts') ? [path.join(d, e.name)] : []));
    for (const f of walk('src')) {
      fs.readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
          const m = names.exec(code);
          if (m) found.push(`${f}:${i + 1}: ${m[0]}`);
        });
    }
    expect(found).toEqual([]);
    expect(names.test("instrument === 'quickdash'")).toBe(true); // the check can fail
  });
});

describe('kvalreg prom score', () => {
  const run = (...args: string[]) =>
    execFileSync(process.execPath, ['bin/kvalreg.js', 'prom', 'score', ...args], {
      encoding: 'utf8',
      env: { ...process.env, LOG_LEVEL: 'silent' },
    });
  it('prints the same scores as the platform as JSON', () => {
    const answers = JSON.stringify(fill('q', [3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2]));
    const out = JSON.parse(run('--instrument', 'quickdash', '--answers', answers));
    expect(out.scores.disability.value).toBe(43.2);
    expect(out).toEqual(JSON.parse(JSON.stringify(scoreResponse(all.get('quickdash')!, JSON.parse(answers)))));
  });
  it('--help lists the instruments', () => {
    const help = run('--help');
    for (const id of all.keys()) expect(help).toContain(id);
    expect(help).toMatch(/value sets no-2024, en-2018, dk-2021/);
  });
  it('an unknown instrument is a clear error', () => {
    expect(() =>
      execFileSync(process.execPath, ['bin/kvalreg.js', 'prom', 'score', '--instrument', 'nope', '--answers', '{}'], {
        encoding: 'utf8',
        stdio: 'pipe',
      }),
    ).toThrow(/no instrument "nope"; known: anchor/);
  });
});
