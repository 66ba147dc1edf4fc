// PROM over FHIR: the instruments' Questionnaires are read at /fhir/Questionnaire, and
// QuestionnaireResponses from another system come in through POST /fhir like every other
// resource: checked against the Questionnaire (a wrong answer is refused with where and why, and
// nothing of a transaction is stored), scored by the same code as the patient's own form, matched
// to every registry's schedule time point whose window holds the day it was answered (or to the
// invitation it names), idempotent on its identifier, kept and reported when nothing matches (and
// matched when the case arrives), and taken back when the sender says it was entered in error.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { questionnaireResponse, type ResponseSpec } from '../src/prom/eprom.ts';
import { scoreResponse } from '../src/prom/scoring.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { SUS_HOSPITAL, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const EQ = { mobility: '2', selfcare: '1', usual: '2', pain: '3', anxiety: '1', vas: 70 };
const PRWHE = Object.fromEntries(
  [1, 2, 3, 4, 5]
    .map((i) => [`pain${i}`, 4])
    .concat(
      [1, 2, 3, 4, 5, 6].map((i) => [`func${i}`, 2]),
      [1, 2, 3, 4].map((i) => [`usual${i}`, 2]),
    ),
);
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const inst = (id: string) => t.platform.prom.instruments.get(id)!;
let seq = 0;
const qr = (
  over: Partial<ResponseSpec> & { nin: string; authored: string },
  instrument = 'eq5d5l',
  answers: Record<string, unknown> = EQ,
) =>
  questionnaireResponse({
    instrument: inst(instrument),
    answers: answers as any,
    identifier: { system: 'urn:oid:2.16.578.1.12.4.1.999.7.qr', value: `qr-${++seq}` },
    ...over,
  });
async function post(bundle: unknown, token = t.tokens.ehr, url = '/fhir') {
  const res = await t.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  return { status: res.statusCode, body: res.json() as any, message: Number(res.headers['x-kvalreg-message']) };
}
const batch = (...resources: unknown[]) => ({
  resourceType: 'Bundle',
  type: 'batch',
  entry: resources.map((resource) => ({ resource, request: { method: 'POST', url: 'QuestionnaireResponse' } })),
});
const transaction = (...resources: unknown[]) => ({ ...batch(...resources), type: 'transaction' });
const diagnostics = (body: any, i = 0) =>
  (body.entry?.[i]?.response?.outcome?.issue ?? body.issue ?? []).map((x: any) => x.diagnostics).join(' | ');
const itemsOfCase = (anchorId: string) =>
  q(
    `SELECT i.registry, i.timepoint, i.instrument, i.recall, i.status, i.response_id FROM prom_item i JOIN registry_case c ON c.registry = i.registry AND c.id = i.case_id
  WHERE c.anchor_key LIKE $1 ORDER BY i.registry, i.timepoint, i.instrument`,
    [`%|${anchorId}`],
  );

describe('GET /fhir/Questionnaire', () => {
  it("lists every instrument's Questionnaire, finds one by canonical URL, reads one by id; a login is needed", async () => {
    const get = (url: string, token: string | null = t.tokens.ehr) =>
      t.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const all = (await get('/fhir/Questionnaire')).json();
    expect(all.resourceType).toBe('Bundle');
    expect(all.entry.map((e: any) => e.resource.id).sort()).toEqual([...t.platform.prom.instruments.keys()].sort());
    expect(
      all.entry.every(
        (e: any) => e.resource.resourceType === 'Questionnaire' && e.resource.url === `urn:kvalreg:instrument:${e.resource.id}`,
      ),
    ).toBe(true);
    const one = (await get('/fhir/Questionnaire?url=urn:kvalreg:instrument:prwhe|1.0')).json();
    expect(one.entry.map((e: any) => e.resource.id)).toEqual(['prwhe']);
    const read = await get('/fhir/Questionnaire/eq5d5l', t.tokens.registrarSus);
    expect(read.statusCode).toBe(200);
    expect(read.headers['content-type']).toMatch(/application\/fhir\+json/);
    expect(read.json().item.length).toBeGreaterThan(0);
    const missing = await get('/fhir/Questionnaire/nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().resourceType).toBe('OperationOutcome');
    expect((await get('/fhir/Questionnaire', null)).statusCode).toBe(401);
    const cs = (await get('/fhir/metadata', null)).json();
    expect(
      cs.rest[0].resource
        .find((r: any) => r.type === 'Questionnaire')
        .interaction.map((i: any) => i.code)
        .sort(),
    ).toEqual(['read', 'search-type']);
  });
});

describe('QuestionnaireResponse in', () => {
  it('in the same transaction as the fracture: scored by the same code, matched to the recalled baseline, items created', async () => {
    const f = fracture({ nin: nin('1961-01-11', 'female'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    const bundle = ehrBundle(f);
    const answers = qr({ nin: f.nin, authored: '2024-03-05T18:00:00+01:00' }, 'eq5d5l', EQ);
    bundle.entry.push({ resource: answers, request: { method: 'POST', url: 'QuestionnaireResponse' } });
    const res = await post(bundle);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const note = diagnostics(res.body, bundle.entry.length - 1);
    expect(note).toMatch(/PROM eq5d5l: scored .*answers fracture case \d+ at baseline/);
    // The analytics tables were not refreshed: matching does not wait for them.
    const items = await itemsOfCase(f.id);
    expect(items.map((i) => [i.timepoint, i.instrument, i.recall, i.status])).toEqual([['baseline', 'eq5d5l', 'pre-injury', 'answered']]);
    const [resp] = await q('SELECT id, recall, status, scores, answers, provenance, answered_at FROM prom_response WHERE id = $1', [
      items[0].response_id,
    ]);
    expect(resp).toMatchObject({
      recall: 'pre-injury',
      status: 'completed',
      provenance: { kind: 'fhir', sender: 'sus-dips', message: res.message },
    });
    expect(resp.scores).toEqual(scoreResponse(inst('eq5d5l'), EQ).scores);
    expect(new Date(resp.answered_at).toISOString()).toBe('2024-03-05T17:00:00.000Z');
  });

  it('is idempotent: a resend changes nothing, a new version replaces the answers and is matched again', async () => {
    const f = fracture({ nin: nin('1962-02-12', 'male'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    expect((await post(ehrBundle(f))).status).toBe(200);
    const first = qr({ nin: f.nin, authored: '2024-04-14T10:00:00+02:00' }, 'prwhe', PRWHE);
    expect(diagnostics((await post(batch(first))).body)).toMatch(/answers fracture case \d+ at w6/);
    const again = await post(batch(first));
    expect(diagnostics(again.body)).toMatch(/unchanged/);
    expect(
      (
        await q(
          "SELECT count(*)::int AS n FROM prom_response WHERE source_key LIKE 'QuestionnaireResponse|%' AND person_id = (SELECT person_id FROM registry_case WHERE anchor_key LIKE $1)",
          [`%|${f.id}`],
        )
      )[0].n,
    ).toBe(1);
    // The sender corrects the answers and the date: now in the 12-month window.
    const corrected = {
      ...first,
      authored: '2025-03-03T10:00:00+01:00',
      item: questionnaireResponse({
        instrument: inst('prwhe'),
        answers: { ...PRWHE, pain1: 0 } as any,
        nin: f.nin,
        authored: 'x',
        identifier: { system: 's', value: 'v' },
      }).item,
    };
    const res = await post(batch(corrected));
    expect(diagnostics(res.body)).toMatch(/scored pain 16.*answers fracture case \d+ at m12/);
    const items = await itemsOfCase(f.id);
    expect(items.map((i) => [i.timepoint, i.status])).toEqual([
      ['m12', 'answered'],
      ['w6', 'expired'],
    ]);
    expect((await q('SELECT count(*)::int AS n FROM prom_response WHERE id = $1', [items[0].response_id]))[0].n).toBe(1);
  });

  it('answers the invitation the scheduler sent (named in basedOn), and the invitation is answered when all it asks is', async () => {
    const f = fracture({
      nin: nin('1963-03-13', 'female'),
      injuryDateTime: '2023-03-10T10:00:00+01:00',
      firstContact: '2023-03-10T12:00:00+01:00',
    });
    expect((await post(ehrBundle(f))).status).toBe(200);
    await t.platform.analytics.refresh();
    await t.platform.prom.runDue(new Date('2023-03-12T12:00:00Z'));
    const items = await itemsOfCase(f.id);
    expect(items.map((i) => [i.instrument, i.status])).toEqual([
      ['eq5d5l', 'invited'],
      ['prwhe', 'invited'],
    ]);
    const [{ invitation_id: inv }] = await q(
      'SELECT invitation_id FROM prom_item i JOIN registry_case c ON c.id = i.case_id WHERE c.anchor_key LIKE $1 LIMIT 1',
      [`%|${f.id}`],
    );
    // A recalled baseline answered late (after its window): the invitation it answers decides.
    const eq = qr({ nin: f.nin, authored: '2023-04-20T10:00:00+02:00', invitation: Number(inv) });
    expect(diagnostics((await post(batch(eq))).body)).toMatch(/answers fracture case \d+ at baseline/);
    expect((await q('SELECT status FROM prom_invitation WHERE id = $1', [inv]))[0].status).not.toBe('answered');
    const pr = qr({ nin: f.nin, authored: '2023-03-20T10:00:00+01:00', invitation: Number(inv) }, 'prwhe', PRWHE);
    expect((await post(batch(pr))).status).toBe(200);
    expect((await itemsOfCase(f.id)).map((i) => i.status)).toEqual(['answered', 'answered']);
    expect((await q('SELECT status FROM prom_invitation WHERE id = $1', [inv]))[0].status).toBe('answered');
    // Another patient's invitation cannot be answered.
    const other = fracture({ nin: nin('1964-04-14', 'male'), injuryDateTime: '2023-03-10T10:00:00+01:00' });
    expect((await post(ehrBundle(other))).status).toBe(200);
    const forged = await post(batch(qr({ nin: other.nin, authored: '2023-03-20T10:00:00+01:00', invitation: Number(inv) })));
    expect(forged.body.entry[0].response.status).toMatch(/^422/);
    expect(diagnostics(forged.body)).toMatch(/basedOn names invitation \d+, which did not ask this patient eq5d5l/);
  });

  it('an answer before its case is kept and reported, and matched when the case arrives', async () => {
    const f = fracture({
      nin: nin('1965-05-15', 'female'),
      injuryDateTime: '2024-06-01T10:00:00+02:00',
      firstContact: '2024-06-01T11:00:00+02:00',
    });
    const early = await post(batch(qr({ nin: f.nin, authored: '2024-07-15T10:00:00+02:00' })));
    expect(early.status).toBe(200);
    expect(early.body.entry[0].response.status).toBe('201 Created');
    expect(diagnostics(early.body)).toMatch(
      /kept, not matched \(no schedule of fracture, trauma asks it of this patient around 2024-07-15\)/,
    );
    expect(early.body.entry[0].response.outcome.issue[1].details.coding[0].code).toBe('prom-unmatched');
    expect(await itemsOfCase(f.id)).toEqual([]);
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await itemsOfCase(f.id)).map((i) => [i.timepoint, i.instrument, i.recall, i.status])).toEqual([
      ['w6', 'eq5d5l', 'current', 'answered'],
    ]);
  });

  it('a wrong answer is refused with where and why: a transaction stores nothing, a batch refuses that entry only', async () => {
    const f = fracture({ nin: nin('1966-06-16', 'male'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    const bundle = ehrBundle(f);
    bundle.entry.push({
      resource: qr({ nin: f.nin, authored: '2024-03-05T10:00:00+01:00' }, 'eq5d5l', { ...EQ, vas: 140 }),
      request: { method: 'POST', url: 'QuestionnaireResponse' },
    });
    const res = await post(bundle);
    expect(res.status).toBe(422);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0]).toMatchObject({ severity: 'error', expression: [`Bundle.entry[${bundle.entry.length - 1}].resource.item`] });
    expect(res.body.issue[0].diagnostics).toMatch(/vas: 140 is outside 0–100/);
    expect((await q('SELECT count(*)::int AS n FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`]))[0].n).toBe(0);

    const g = fracture({ nin: nin('1967-07-17', 'female'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    expect((await post(ehrBundle(g))).status).toBe(200);
    const good = qr({ nin: g.nin, authored: '2024-03-06T10:00:00+01:00' });
    const unknown = {
      ...qr({ nin: g.nin, authored: '2024-03-06T10:00:00+01:00' }),
      questionnaire: 'http://example.org/Questionnaire/sf36',
    };
    const undated = { ...qr({ nin: g.nin, authored: '2024-03-06T10:00:00+01:00' }) } as any;
    delete undated.authored;
    const mixed = await post(batch(good, unknown, undated));
    expect(mixed.status).toBe(200);
    expect(mixed.body.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '422', '422']);
    expect(diagnostics(mixed.body, 1)).toMatch(
      /No instrument has the Questionnaire "http:\/\/example.org\/Questionnaire\/sf36"\. Name one of urn:kvalreg:instrument:/,
    );
    expect(diagnostics(mixed.body, 2)).toMatch(/authored must give when the patient answered/);
    expect((await q('SELECT status FROM inbox_message WHERE id = $1', [mixed.message]))[0].status).toBe('quarantined');
    expect((await itemsOfCase(g.id)).map((i) => i.status)).toEqual(['answered']);
  });

  it('entered-in-error, or deleted by identifier, takes the answer back from every item', async () => {
    const f = fracture({ nin: nin('1968-08-18', 'female'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    expect((await post(ehrBundle(f))).status).toBe(200);
    const a = qr({ nin: f.nin, authored: '2024-03-04T10:00:00+01:00' });
    const b = qr({ nin: f.nin, authored: '2024-04-15T10:00:00+02:00' }, 'prwhe', PRWHE);
    expect((await post(batch(a, b))).status).toBe(200);
    expect((await itemsOfCase(f.id)).map((i) => [i.timepoint, i.instrument, i.status])).toEqual([
      ['baseline', 'eq5d5l', 'answered'],
      ['w6', 'prwhe', 'answered'],
    ]);
    expect((await post(batch({ ...a, status: 'entered-in-error' }))).status).toBe(200);
    const id = (b as any).identifier;
    const del = await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'DELETE', url: `QuestionnaireResponse?identifier=${id.system}|${id.value}` } }],
    });
    expect(del.body.entry[0].response.status).toBe('204 No Content');
    // Both windows closed long ago: the items expire, unanswered.
    expect((await itemsOfCase(f.id)).map((i) => [i.timepoint, i.status, i.response_id])).toEqual([
      ['baseline', 'expired', null],
      ['w6', 'expired', null],
    ]);
    expect(
      (
        await q('SELECT count(*)::int AS n FROM prom_response WHERE source_key = ANY($1)', [
          [`QuestionnaireResponse|${id.system}|${id.value}`],
        ])
      )[0].n,
    ).toBe(0);
  });

  it('collect once: one answer to EQ-5D-5L answers the fracture and the trauma register at 12 months; not a registry the patient objected to', async () => {
    const patient = nin('1979-09-19', 'male');
    const injury = '2024-04-15T09:00:00+02:00';
    const f = fracture({ nin: patient, injuryDateTime: injury, firstContact: '2024-04-15T10:00:00+02:00' });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect(
      (
        await post(
          traumaBundle({
            id: `tr-${Date.now()}`,
            nin: patient,
            unitResh: SUS_HOSPITAL,
            arrival: '2024-04-15T09:40:00+02:00',
            traumaTeam: true,
            accident: { at: injury },
            ais: ['853422.2'],
          }),
        )
      ).status,
    ).toBe(200);
    const res = await post(batch(qr({ nin: patient, authored: '2025-04-20T10:00:00+02:00' })));
    expect(diagnostics(res.body)).toMatch(/answers fracture case \d+ at m12, trauma case \d+ at m12/);

    const other = nin('1978-08-18', 'female');
    const g = fracture({ nin: other, injuryDateTime: injury, firstContact: '2024-04-15T10:00:00+02:00' });
    expect((await post(ehrBundle(g))).status).toBe(200);
    expect(
      (
        await post(
          traumaBundle({
            id: `tr2-${Date.now()}`,
            nin: other,
            unitResh: SUS_HOSPITAL,
            arrival: '2024-04-15T09:40:00+02:00',
            traumaTeam: true,
            accident: { at: injury },
            ais: ['853422.2'],
          }),
        )
      ).status,
    ).toBe(200);
    await q("INSERT INTO prom_objection (person_id, registry) SELECT person_id, 'trauma' FROM registry_case WHERE anchor_key LIKE $1", [
      `%|${g.id}`,
    ]);
    const res2 = await post(batch(qr({ nin: other, authored: '2025-04-20T10:00:00+02:00' })));
    expect(diagnostics(res2.body)).toMatch(/answers fracture case \d+ at m12$/);
  });

  it('the recall the sender states decides between a recalled baseline and a follow-up; $validate reports the match and stores nothing', async () => {
    const f = fracture({ nin: nin('1969-09-19', 'male'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    expect((await post(ehrBundle(f))).status).toBe(200);
    const dry = await post(
      batch(qr({ nin: f.nin, authored: '2024-03-10T10:00:00+01:00', recall: 'current' })),
      t.tokens.ehr,
      '/fhir/Bundle/$validate',
    );
    expect(dry.status).toBe(200);
    expect(dry.body.issue.map((i: any) => i.diagnostics).join(' ')).toMatch(/kept, not matched/);
    const ok = await post(
      batch(qr({ nin: f.nin, authored: '2024-03-10T10:00:00+01:00', recall: 'pre-injury' })),
      t.tokens.ehr,
      '/fhir/Bundle/$validate',
    );
    expect(ok.body.issue.map((i: any) => i.diagnostics).join(' ')).toMatch(/answers fracture case \d+ at baseline/);
    expect(await itemsOfCase(f.id)).toEqual([]);
    const bad = await post(
      batch({
        ...qr({ nin: f.nin, authored: '2024-03-10T10:00:00+01:00' }),
        extension: [{ url: 'urn:kvalreg:prom:recall', valueCode: 'yesterday' }],
      }),
    );
    expect(diagnostics(bad.body)).toMatch(/recall extension takes valueCode "current" or "pre-injury"/);
  });

  it('an in-progress response is kept as a draft, not scored or counted; completed later, it is', async () => {
    const f = fracture({ nin: nin('1970-10-20', 'female'), injuryDateTime: '2024-03-01T10:00:00+01:00' });
    expect((await post(ehrBundle(f))).status).toBe(200);
    const draft = qr({ nin: f.nin, authored: '2024-03-06T10:00:00+01:00', status: 'in-progress' }, 'eq5d5l', { mobility: '1' });
    expect(diagnostics((await post(batch(draft))).body)).toMatch(/kept as a draft/);
    expect(await itemsOfCase(f.id)).toEqual([]);
    const done = { ...draft, status: 'completed', item: qr({ nin: f.nin, authored: 'x' }).item };
    expect(diagnostics((await post(batch(done))).body)).toMatch(/answers fracture case \d+ at baseline/);
    expect(
      (
        await q('SELECT status, scores IS NOT NULL AS scored FROM prom_response WHERE source_key = $1', [
          `QuestionnaireResponse|${(draft as any).identifier.system}|${(draft as any).identifier.value}`,
        ])
      )[0],
    ).toEqual({ status: 'completed', scored: true });
  });

  it('the documented example is accepted and answers the documented fracture at 6 weeks, with the documented outcome', async () => {
    const doc = (f: string) => JSON.parse(fs.readFileSync(`docs/examples/${f}`, 'utf8'));
    expect((await post(doc('fracture-transaction.json'))).status).toBe(200);
    const res = await post(doc('prom-response-batch.json'));
    expect(diagnostics(res.body)).toMatch(/PROM eq5d5l: scored profile 21231, index 0.818, vas 70; answers fracture case \d+ at w6/);
    expect(fs.readFileSync('docs/prom.md', 'utf8')).toContain(
      // 21231 in the Norwegian value set (Garratt et al. 2024): 1 − (0.03116 + 0 + 0.027208 + 0.123947 + 0) = 0.817685
      'scored profile 21231, index 0.818, vas 70; answers',
    );
  });
});
