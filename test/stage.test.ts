// The stage rule (SKDE's stage review: requirements 1–5 give stage 2, 6–11 stage 3, 12–16 stage 4;
// 17 level A, 18 level B; all of a stage's requirements, and those below, are needed), and the
// assessment: evidence computed where the platform can, answers with a link for the rest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { stageVerdict, wordingFor } from '../src/quality/stage.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const items = (met: number[]) =>
  Array.from({ length: 18 }, (_, i) => ({
    nr: i + 1,
    stage: i < 5 ? 2 : i < 11 ? 3 : i < 16 ? 4 : null,
    level: i === 16 ? ('A' as const) : i === 17 ? ('B' as const) : null,
    met: met.includes(i + 1),
  }));
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('the stage rule', () => {
  it('needs every requirement of a stage and of those below', () => {
    expect(stageVerdict(items([])).verdict).toBe('1C');
    expect(stageVerdict(items(range(1, 4))).verdict).toBe('1C'); // 5 missing: not stage 2
    expect(stageVerdict(items(range(1, 5))).verdict).toBe('2C');
    expect(stageVerdict(items([...range(1, 5), ...range(7, 11)])).verdict).toBe('2C'); // 6 missing
    expect(stageVerdict(items(range(1, 11))).verdict).toBe('3C');
    expect(stageVerdict(items([...range(2, 16)])).verdict).toBe('1C'); // stage 4's items do not make up for requirement 1
    expect(stageVerdict(items(range(1, 16))).verdict).toBe('4C');
    expect(stageVerdict(items([...range(1, 11), 18])).verdict).toBe('3B');
    expect(stageVerdict(items([...range(1, 16), 17, 18])).verdict).toBe('4A');
    expect(stageVerdict(items([...range(1, 16), 17])).verdict).toBe('4A');
  });
  it('takes the wording of the newest year at or before the assessed one', () => {
    const t = { 2024: 'old', 2026: 'new' } as Record<string, string>;
    expect(wordingFor(t, 2025)).toBe('old');
    expect(wordingFor(t, 2026)).toBe('new');
    expect(wordingFor(t, 2020)).toBe('old');
  });
});

describe('the assessment', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await testPlatform();
    const f = fracture({ injuryDateTime: '2024-03-01T10:00:00+01:00', firstContact: '2024-03-01T11:00:00+01:00' });
    await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
    await t.platform.analytics.refresh();
    await t.platform.indicators.ensureFresh(t.platform.registry('fracture')!, { asOf: '2025-06-01' });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });

  it("computes evidence, takes the registry's answers, and gives the draft verdict", async () => {
    const get = () =>
      t.app.inject({
        method: 'GET',
        url: '/api/registries/fracture/stage?year=2024',
        headers: { authorization: `Bearer ${t.tokens.admin}` },
      });
    const res = await get();
    expect(res.statusCode, res.body).toBe(200);
    const a = res.json();
    const item = (nr: number) => a.items.find((i: any) => i.nr === nr);
    // One hospital area only: not every region (computed), so stage 1; the register's answers for 2024 (5 and 11 yes).
    expect(item(1).computed.value).toBe(false);
    expect(item(1).computed.detail).toMatch(/1 av 4 helseregioner/);
    expect(item(5).answer).toMatchObject({ answer: true });
    expect(item(6).computed.value).toBe(true);
    // No NPR extract: coverage cannot be judged by the platform; the answer (no) counts.
    expect(item(7).computed).toBeNull();
    expect(a.verdict).toBe('1C');
    // An answer needs a link to evidence when yes; only the registry's admins may answer.
    const post = (body: object, token = t.tokens.admin) =>
      t.app.inject({
        method: 'POST',
        url: '/api/registries/fracture/stage/answers',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload: body,
      });
    expect((await post({ year: 2024, nr: 17, answer: true })).statusCode).toBe(400);
    expect(
      (await post({ year: 2024, nr: 17, answer: true, evidence: 'https://example.org/tiltak' }, t.tokens.registrarSus)).statusCode,
    ).toBe(403);
    const answered = await post({
      year: 2024,
      nr: 17,
      answer: true,
      evidence: 'https://example.org/tiltak',
      note: 'Forbedringsprosjekt 2023',
    });
    expect(answered.statusCode, answered.body).toBe(201);
    expect(answered.json().level).toBe('A');
    expect(answered.json().verdict).toBe('1A');
    expect((await post({ year: 2024, nr: 99, answer: false })).statusCode).toBe(400);
  });
});
