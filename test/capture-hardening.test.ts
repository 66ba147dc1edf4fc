// The edges found in review: identity leakage through references, response alignment, late
// replays, per-patient isolation in batches, sender errors that must not become 500s, access of
// sending systems to registrars' operations, concurrent writers, and reservation completeness.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle, SYS } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

async function post(body: unknown, token = t.tokens.ehr) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), message: Number(res.headers['x-kvalreg-message']) };
}
const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;
const caseOf = async (id: string) =>
  (await q('SELECT id FROM registry_case WHERE anchor_key = $1', [`Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|${id}`]))[0];

describe('identity never reaches stored resources', () => {
  it('replaces references to the patient by identifier, wherever they are', async () => {
    const f = fracture();
    const b = ehrBundle(f);
    b.entry[2].resource.asserter = { type: 'Patient', identifier: { system: SYS.fnr, value: f.nin } };
    b.entry[2].resource.note = [
      { authorReference: { reference: `Patient?identifier=${SYS.fnr}|${f.nin}` }, text: 'Noted by the patient.' },
    ]; // Annotation.text is 1..1 in R4
    b.entry[2].resource.extension = [{ url: 'urn:x', valueIdentifier: { system: SYS.fnr, value: f.nin } }];
    expect((await post(b)).status).toBe(200);
    const stored = JSON.stringify(await q('SELECT resource, links FROM source_resource'));
    expect(stored).not.toContain(f.nin);
  });

  it('refuses contained resources', async () => {
    const b = ehrBundle(fracture());
    b.entry[2].resource.contained = [{ resourceType: 'Patient', identifier: [{ system: SYS.fnr, value: nin() }] }];
    const res = await post(b);
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/Contained resources are not accepted/);
  });
});

describe('responses and batches', () => {
  it('answers every entry, in order, and rejects a batch patient who cannot be identified with 422', async () => {
    const good = ehrBundle(fracture(), 'batch'),
      bad = ehrBundle(fracture({ nin: '01017012345' }), 'batch');
    const sent = [...good.entry, ...bad.entry];
    const res = await post({ resourceType: 'Bundle', type: 'batch', entry: sent });
    expect(res.status).toBe(200);
    expect(res.body.entry).toHaveLength(sent.length);
    expect(res.body.entry.slice(good.entry.length).every((e: any) => e.response.status.startsWith('422'))).toBe(true);
    expect((await q('SELECT status FROM inbox_message WHERE id = $1', [res.message]))[0].status).toBe('quarantined');
  });

  it('isolates an identifier conflict to the patient who caused it', async () => {
    const first = fracture();
    await post(ehrBundle(first));
    const thief = fracture({ id: first.id }); // same resource identifiers, another patient
    const other = fracture();
    const res = await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [...ehrBundle(other, 'batch').entry, ...ehrBundle(thief, 'batch').entry],
    });
    expect(res.status).toBe(200);
    expect(await caseOf(other.id)).toBeDefined();
    expect(JSON.stringify(res.body)).toMatch(/sent earlier for another patient/);
    expect(
      (await q('SELECT count(*)::int AS n FROM person p WHERE NOT EXISTS (SELECT 1 FROM source_resource s WHERE s.person_id = p.id)'))[0].n,
    ).toBe(0);
  });

  it("does not let one system overwrite another system's resource by reusing its identifier", async () => {
    const f = fracture();
    await post(ehrBundle(f));
    const res = await post(ehrBundle({ ...f, aoCode: '2R3C1' }), t.tokens.planner);
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body)).toMatch(/sent by another system \(sus-dips\)/);
    const c = await caseOf(f.id);
    expect((await q("SELECT data->>'ao_code' AS ao FROM case_form WHERE case_id = $1 AND form = 'skade'", [c.id]))[0].ao).toBe('2R3A2');
  });

  it('does not let a late replay of an older message take data back', async () => {
    const f = fracture({ aoCode: '2R3A2' });
    const v1 = await t.platform.inbox.receive({ kind: 'system', sender: 'sus-dips', name: 'x' }, 'fhir', JSON.stringify(ehrBundle(f)));
    // v2 is received and processed first; v1 (received earlier) is processed late, as recovery would.
    expect((await post(ehrBundle({ ...f, aoCode: '2R3C1' }))).status).toBe(200);
    const late = await t.platform.inbox.process(v1);
    expect(JSON.stringify(late.body)).toMatch(/not applied/);
    const c = await caseOf(f.id);
    expect((await q("SELECT data->>'ao_code' AS ao FROM case_form WHERE case_id = $1 AND form = 'skade'", [c.id]))[0].ao).toBe('2R3C1');
  });
});

describe('sender errors are 4xx, never 500', () => {
  const cases: Array<[string, (b: any) => void, RegExp]> = [
    [
      'an hour of 25',
      (b) => {
        b.entry[2].resource.onsetDateTime = '2024-03-01T25:00:00+01:00';
      },
      /00:00–23:59|hours 00–23/,
    ],
    [
      '30 February',
      (b) => {
        b.entry[2].resource.onsetDateTime = '2024-02-30T10:00:00+01:00';
      },
      /real date/,
    ],
    [
      'an impossible birth date',
      (b) => {
        b.entry[0].resource.birthDate = '2024-02-30';
      },
      /birthDate must be a real calendar date/,
    ],
    [
      'a death date that is not a date',
      (b) => {
        b.entry[0].resource.deceasedDateTime = 'last week';
      },
      /Not a valid FHIR dateTime.*entry\[0\]\.resource\.deceasedDateTime/,
    ],
    [
      'a NUL character',
      (b) => {
        b.entry[2].resource.note = [{ text: 'a\u0000b' }];
      },
      /NUL character/,
    ],
  ];
  for (const [name, spoil, pattern] of cases) {
    it(`rejects ${name}`, async () => {
      const b = ehrBundle(fracture());
      spoil(b);
      const res = await post(b);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(JSON.stringify(res.body)).toMatch(pattern);
    });
  }

  it('gives 400 for a malformed case id and 404 for an unknown message', async () => {
    const h = { authorization: `Bearer ${t.tokens.admin}` };
    expect((await t.app.inject({ method: 'GET', url: '/api/registries/fracture/cases/abc', headers: h })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'GET', url: '/api/registries/fracture/worklist?limit=-1', headers: h })).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'POST', url: '/api/inbox/99999999/reprocess', headers: h })).statusCode).toBe(404);
  });
});

describe('access', () => {
  it("gives a sending system no access to the registrars' operations", async () => {
    const f = fracture();
    await post(ehrBundle(f));
    const c = await caseOf(f.id);
    const h = { authorization: `Bearer ${t.tokens.ehr}` };
    expect((await t.app.inject({ method: 'GET', url: `/api/registries/fracture/cases/${c.id}`, headers: h })).statusCode).toBe(403);
    expect(
      (
        await t.app.inject({
          method: 'PATCH',
          url: `/api/registries/fracture/cases/${c.id}/forms/behandling`,
          headers: h,
          payload: { values: { treatment_intent: 'operative' } },
        })
      ).statusCode,
    ).toBe(403);
    const wl = await t.app.inject({ method: 'GET', url: '/api/registries/fracture/worklist', headers: h });
    expect(wl.json().items ?? []).toEqual([]);
  });
});

describe('concurrent writers on one case', () => {
  it("keep both the record's and the planner's values", async () => {
    for (let i = 0; i < 5; i++) {
      const f = fracture({ intent: undefined, surgery: { start: '2024-03-02T09:00:00+01:00' } });
      await post(ehrBundle(f));
      const update = ehrBundle({ ...f, intent: 'operative' });
      await Promise.all([post(update), post(plannerBundle(f), t.tokens.planner)]);
      const c = await caseOf(f.id);
      const rows = await q("SELECT form, data FROM case_form WHERE case_id = $1 AND form IN ('behandling', 'operasjon')", [c.id]);
      expect(rows.find((r) => r.form === 'behandling').data.treatment_intent).toBe('operative');
      expect(rows.find((r) => r.form === 'operasjon').data.surgery_datetime).toBe('2024-03-02T08:00:00.000Z');
    }
  });
});

describe('reservation', () => {
  it('also removes quarantined messages about the person, and their outcomes', async () => {
    const f = fracture({ nin: nin('1961-04-05', 'male'), aoCode: '23D9' });
    const bad = await post(ehrBundle(f));
    expect(bad.status).toBe(422);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/reservations',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
      payload: { value: f.nin },
    });
    expect(res.statusCode).toBe(201);
    expect((await q('SELECT body_enc IS NULL AS gone, outcome, pruned_reason FROM inbox_message WHERE id = $1', [bad.message]))[0]).toEqual(
      { gone: true, outcome: null, pruned_reason: 'reservation' },
    );
  });
});
