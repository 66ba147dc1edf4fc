import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, plannerBundle, SYS } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

async function post(body: unknown, token = t.tokens.ehr, url = '/fhir') {
  const res = await t.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json(), message: res.headers['x-kvalreg-message'] };
}
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const caseOf = async (id: string) =>
  (
    await q(`SELECT c.id, c.unit_resh FROM registry_case c WHERE c.anchor_key = $1`, [
      `Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|${id}`,
    ])
  )[0];
const formData = async (caseId: number, form: string) =>
  (await q('SELECT * FROM case_form WHERE case_id = $1 AND form = $2', [caseId, form]))[0];
const counts = async () =>
  (
    await q(`SELECT (SELECT count(*) FROM person)::int AS persons, (SELECT count(*) FROM registry_case)::int AS cases,
  (SELECT count(*) FROM case_form)::int AS forms, (SELECT count(*) FROM value_history)::int AS history, (SELECT count(*) FROM source_resource)::int AS resources`)
  )[0];

describe('capture of a fracture from the patient record and the operation planner', () => {
  it('creates a case with typed values, provenance and a worklist entry for what is missing', async () => {
    const f = fracture({ intent: 'operative', open: true });
    const res = await post(ehrBundle(f));
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('transaction-response');
    expect(res.body.entry.every((e: any) => /^20[01]/.test(e.response.status))).toBe(true);
    const c = await caseOf(f.id);
    expect(c.unit_resh).toBe(SUS_ORTHO);
    const skade = await formData(c.id, 'skade');
    expect(skade.data).toMatchObject({
      ao_code: '2R3A2',
      side: 'left',
      open_fracture: true,
      injury_energy: 'low',
      care_setting: 'emergency',
      injury_date: '2024-03-01',
      treating_unit: SUS_ORTHO,
    });
    expect(skade.data.first_contact_datetime).toBe('2024-03-01T11:30:00.000Z');
    expect(skade.provenance.ao_code).toMatchObject({ kind: 'system', sender: 'sus-dips', message: Number(res.message) });
    // Operative intent without a surgery yet: the surgery time is missing; an open fracture needs the tetanus answer.
    expect((await formData(c.id, 'operasjon')).missing).toEqual(['surgery_datetime']);
    expect((await formData(c.id, 'behandling')).missing).toContain('tetanus_booster');
    // The identity number is stored only encrypted.
    const raw = JSON.stringify(await q('SELECT * FROM person'));
    expect(raw).not.toContain(f.nin);
  });

  it("links the planner's procedures sent later, and also ones sent before the fracture", async () => {
    const f = fracture({
      intent: 'operative',
      surgery: { start: '2024-03-02T09:00:00+01:00', ncsp: 'NCJ62' },
      reoperations: [{ id: '1', start: '2024-05-01T09:00:00+02:00', planned: false, cause: 'infection' }],
    });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await post(plannerBundle(f), t.tokens.planner)).status).toBe(200);
    const c = await caseOf(f.id);
    const op = await formData(c.id, 'operasjon');
    expect(op.data).toMatchObject({ surgery_datetime: '2024-03-02T08:00:00.000Z', surgery_procedure: 'NCJ62' });
    expect(op.provenance.surgery_datetime.sender).toBe('sus-orbit');
    const reop = await q("SELECT * FROM case_form WHERE case_id = $1 AND form = 'reoperasjon'", [c.id]);
    expect(reop).toHaveLength(1);
    expect(reop[0].data).toMatchObject({ reoperation_planned: false, reoperation_cause: 'infection' });

    // Out of order: the planner's message first, the record's after it.
    const g = fracture({ intent: 'operative', surgery: { start: '2024-03-03T09:00:00+01:00' } });
    expect((await post(plannerBundle(g), t.tokens.planner)).status).toBe(200);
    expect(await caseOf(g.id)).toBeUndefined();
    expect((await post(ehrBundle(g))).status).toBe(200);
    const gc = await caseOf(g.id);
    expect((await formData(gc.id, 'operasjon')).data.surgery_datetime).toBe('2024-03-03T08:00:00.000Z');
  });

  it('is idempotent: a resend changes nothing and says so', async () => {
    const f = fracture();
    await post(ehrBundle(f));
    const before = await counts();
    const again = await post(ehrBundle(f));
    expect(again.status).toBe(200);
    expect(
      again.body.entry.filter((e: any) => e.response.outcome?.issue?.some((i: any) => /unchanged/.test(i.diagnostics))).length,
    ).toBeGreaterThan(2);
    expect(await counts()).toEqual(before);
  });

  it('stores an updated resource as a new version of the values it carries, with history', async () => {
    const f = fracture();
    await post(ehrBundle(f));
    const c = await caseOf(f.id);
    const res = await post(ehrBundle({ ...f, aoCode: '2R3C1', side: 'right' }));
    expect(res.body.entry[2].response.outcome.issue[0].diagnostics).toMatch(/version 2/);
    const skade = await formData(c.id, 'skade');
    expect(skade.data).toMatchObject({ ao_code: '2R3C1', side: 'right', injury_energy: 'low' });
    const hist = await q("SELECT changes FROM value_history WHERE case_id = $1 AND form = 'skade' ORDER BY version", [c.id]);
    expect(hist.at(-1).changes).toEqual({ ao_code: ['2R3A2', '2R3C1'], side: ['left', 'right'] });
    const resource = (
      await q('SELECT version FROM source_resource WHERE rkey = $1', [`Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|${f.id}`])
    )[0];
    expect(resource.version).toBe(2);
  });

  it('never lets a blank overwrite a captured value', async () => {
    const f = fracture({ energy: 'high' });
    await post(ehrBundle(f));
    const c = await caseOf(f.id);
    await post(ehrBundle({ ...f, energy: undefined, firstContact: '2024-03-01T12:45:00+01:00' }));
    expect((await formData(c.id, 'skade')).data.injury_energy).toBe('high');
  });

  it('routes AO 31 (hip) to the hip fracture register: no case here, counted as referred', async () => {
    const f = fracture({ aoCode: '31A1' });
    const res = await post(ehrBundle(f));
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toMatch(/referred to Norwegian Hip Fracture Register/);
    expect(await caseOf(f.id)).toBeUndefined();
    const routed = async () =>
      (
        await q(
          "SELECT count(*)::int AS n FROM routing_decision WHERE registry = 'fracture' AND decision = 'referred' AND target = 'hip-fracture'",
        )
      )[0].n;
    expect(await routed()).toBe(1);
    // A resend, or an update of the same fracture, is not counted again.
    await post(ehrBundle(f));
    await post(ehrBundle({ ...f, aoCode: '31A2' }));
    expect(await routed()).toBe(1);
  });

  it('gives the registry every included prefix (a hand fracture 77, an ankle 44) and not others', async () => {
    for (const ao of ['77.2.1A', '44B1']) {
      const f = fracture({ aoCode: ao });
      const res = await post(ehrBundle(f));
      if (res.status !== 200) throw new Error(JSON.stringify(res.body));
      expect(await caseOf(f.id)).toBeDefined();
    }
  });
});

describe('bad input gets an OperationOutcome and stores nothing partial', () => {
  const cases: Array<[string, () => unknown, number, RegExp]> = [
    ['not JSON', () => '{"resourceType": "Bundle", ', 400, /not valid JSON/],
    ['not a Bundle', () => ({ resourceType: 'Patient' }), 400, /Expected resourceType/],
    [
      'a resource without identifier',
      () => {
        const b = ehrBundle(fracture());
        delete b.entry[2].resource.identifier;
        return b;
      },
      400,
      /no identifier/,
    ],
    ['an invalid identity number', () => ehrBundle(fracture({ nin: '01017012345' })), 422, /Invalid national identity number/],
    ['an AO code that does not exist', () => ehrBundle(fracture({ aoCode: '23D9' })), 422, /not a code in ao_ota_2018/],
    ['an unknown treating unit', () => ehrBundle(fracture({ unitResh: '999999999' })), 422, /RESH id 999999999 is not known/],
    // Base FHIR (the R4 schema's dateTime): 400, as FHIR's HTTP page says for "failed basic FHIR validation rules".
    ['a date-time without time zone', () => ehrBundle(fracture({ firstContact: '2024-03-01T12:30:00' })), 400, /time zone/],
    [
      'an unsupported resource type',
      () => {
        const b = ehrBundle(fracture());
        b.entry.push({ resource: { resourceType: 'Basic' } });
        return b;
      },
      400,
      /Basic.*not accepted/,
    ],
  ];
  for (const [name, make, status, pattern] of cases) {
    it(`rejects ${name}`, async () => {
      const before = await counts();
      const res = await post(make());
      expect(res.status).toBe(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].severity).toBe('error');
      expect(JSON.stringify(res.body)).toMatch(pattern);
      expect(await counts()).toEqual(before);
      const m = (await q('SELECT status, outcome FROM inbox_message WHERE id = $1', [Number(res.message)]))[0];
      expect(m.status).toBe('quarantined');
    });
  }

  it('names the path, value and rule of a bad code', async () => {
    const res = await post(ehrBundle(fracture({ aoCode: '23D9' })));
    const i = res.body.issue[0];
    expect(i.expression).toEqual(['Bundle.entry[2].resource']);
    expect(i.details.text).toBe('codelist:ao_ota_2018');
    expect(i.diagnostics).toContain('"23D9"');
  });

  it('keeps a quarantined message, lists it, and processes it once the cause is fixed', async () => {
    const f = fracture({ unitResh: '7777777' });
    const res = await post(ehrBundle(f));
    expect(res.status).toBe(422);
    const list = await t.app.inject({
      method: 'GET',
      url: '/api/inbox?status=quarantined',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect(list.json().map((m: any) => m.id)).toContain(Number(res.message));
    // The fix: the registry adds the unit. Then the same stored message is reprocessed.
    await q(
      `INSERT INTO org_unit (resh, parent_resh, level, kind, name_nb, path) SELECT '7777777', resh, 'department', 'orthopaedic', 'Ny avdeling', path || '7777777'::text FROM org_unit WHERE resh = '8201100'`,
    );
    await t.platform.reloadUnits();
    const again = await t.app.inject({
      method: 'POST',
      url: `/api/inbox/${res.message}/reprocess`,
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect(again.json().status).toBe('processed');
    expect(await caseOf(f.id)).toBeDefined();
  });

  it('validates without storing ($validate)', async () => {
    const before = await counts();
    const inboxBefore = (await q('SELECT count(*)::int AS n FROM inbox_message'))[0].n;
    const good = await post(ehrBundle(fracture()), t.tokens.ehr, '/fhir/Bundle/$validate');
    expect(good.status).toBe(200);
    expect(JSON.stringify(good.body)).toMatch(/nothing was stored/);
    // FHIR's $validate answers 200 with its findings (a 4xx would mean it could not validate).
    const bad = await post(ehrBundle(fracture({ aoCode: '23D9' })), t.tokens.ehr, '/fhir/Bundle/$validate');
    expect(bad.status).toBe(200);
    expect(bad.body.issue.some((i: any) => i.severity === 'error')).toBe(true);
    expect(JSON.stringify(bad.body)).toMatch(/23D9/);
    expect(await counts()).toEqual(before);
    expect((await q('SELECT count(*)::int AS n FROM inbox_message'))[0].n).toBe(inboxBefore);
  });

  it('reports each entry of a batch: good patients are captured, a bad one is not', async () => {
    const good = fracture(),
      bad = fracture({ aoCode: '99Z9' });
    const a = ehrBundle(good, 'batch'),
      b = ehrBundle(bad, 'batch');
    const res = await post({ resourceType: 'Bundle', type: 'batch', entry: [...a.entry, ...b.entry] });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('batch-response');
    const statuses = res.body.entry.map((e: any) => e.response.status);
    expect(statuses.slice(0, a.entry.length).every((s: string) => /^20/.test(s))).toBe(true);
    expect(statuses.slice(a.entry.length).every((s: string) => s.startsWith('422'))).toBe(true);
    expect(await caseOf(good.id)).toBeDefined();
    expect(await caseOf(bad.id)).toBeUndefined();
  });

  it('refuses requests without a valid token', async () => {
    const res = await post(ehrBundle(fracture()), 'nonsense');
    expect(res.status).toBe(401);
    expect(res.body.resourceType).toBe('OperationOutcome');
  });
});

describe('patients of unknown identity', () => {
  it("issues an auxiliary number that is then accepted as the patient's identity", async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/auxiliary-numbers',
      headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    });
    expect(res.statusCode).toBe(201);
    const aux = res.json();
    expect(aux.system).toBe('urn:kvalreg:auxiliary-number');
    const f = fracture({ nin: aux.value, ninSystem: aux.system });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect(await caseOf(f.id)).toBeDefined();
    expect((await q("SELECT count(*)::int AS n FROM person WHERE nin_kind = 'auxiliary'"))[0].n).toBe(1);
    // A made-up "auxiliary" number is refused.
    const bad = await post(ehrBundle(fracture({ nin: 'AUX-nothex', ninSystem: aux.system })));
    expect(bad.status).toBe(422);
  });
});

describe('reservation (opt-out)', () => {
  it('removes the patient everywhere, history and raw messages included, and refuses later messages', async () => {
    const f = fracture({ nin: nin('1950-02-03', 'male'), intent: 'operative', surgery: { start: '2024-03-02T09:00:00+01:00' } });
    const first = await post(ehrBundle(f));
    await post(plannerBundle(f), t.tokens.planner);
    const c = await caseOf(f.id);
    expect(c).toBeDefined();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/reservations',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
      payload: { value: f.nin },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ removedPerson: true, removedCases: 1 });
    for (const table of ['registry_case', 'case_form', 'value_history']) {
      expect(
        (
          await q(
            `SELECT count(*)::int AS n FROM ${table} WHERE case_id = $1`.replace('case_id', table === 'registry_case' ? 'id' : 'case_id'),
            [c.id],
          )
        )[0].n,
      ).toBe(0);
    }
    expect((await q('SELECT count(*)::int AS n FROM source_resource WHERE rkey LIKE $1', [`%|${f.id}%`]))[0].n).toBe(0);
    expect(
      (await q('SELECT body_enc IS NULL AS gone, pruned_reason FROM inbox_message WHERE id = $1', [Number(first.message)]))[0],
    ).toEqual({ gone: true, pruned_reason: 'reservation' });
    const later = await post(ehrBundle({ ...f, id: `${f.id}-later` }));
    expect(later.status).toBe(403);
    expect(JSON.stringify(later.body)).toMatch(/opted out/);
    expect(await caseOf(`${f.id}-later`)).toBeUndefined();
    expect((await q('SELECT body_enc IS NULL AS gone, status FROM inbox_message WHERE id = $1', [Number(later.message)]))[0]).toEqual({
      gone: true,
      status: 'refused',
    });
    expect((await q("SELECT sum(n)::int AS n FROM refused_count WHERE reason = 'reservation'"))[0].n).toBe(1);
  });
});

describe('completion by registrars', () => {
  const api = (method: string, url: string, token: string, payload?: unknown) =>
    t.app.inject({ method: method as any, url, headers: { authorization: `Bearer ${token}` }, payload: payload as any });

  it("lists the unit's incomplete cases, completes only the named fields, and runs draft → finalised → reopened", async () => {
    const f = fracture({ intent: undefined });
    await post(ehrBundle(f));
    const c = await caseOf(f.id);
    const wl = await api('GET', '/api/registries/fracture/worklist?limit=1000', t.tokens.registrarSus);
    expect(wl.statusCode).toBe(200);
    const item = wl.json().items.find((i: any) => i.caseId === c.id);
    expect(item.forms.find((x: any) => x.form === 'behandling').missing).toContain('treatment_intent');

    // Another unit's reader sees neither the case nor our worklist.
    expect((await api('GET', `/api/registries/fracture/cases/${c.id}`, t.tokens.readerOther)).statusCode).toBe(403);
    expect((await api('GET', `/api/registries/fracture/worklist?unit=${SUS_ORTHO}`, t.tokens.readerOther)).statusCode).toBe(403);
    const theirs = await api('GET', '/api/registries/fracture/worklist', t.tokens.readerOther);
    expect(theirs.json().items.some((i: any) => i.caseId === c.id)).toBe(false);

    const blank = await api('PATCH', `/api/registries/fracture/cases/${c.id}/forms/behandling`, t.tokens.registrarSus, {
      values: { treatment_intent: '' },
    });
    expect(blank.statusCode).toBe(422);
    expect(blank.json().error).toMatch(/blank does not overwrite/);
    const bad = await api('PATCH', `/api/registries/fracture/cases/${c.id}/forms/behandling`, t.tokens.registrarSus, {
      values: { treatment_intent: 'magic' },
    });
    expect(bad.statusCode).toBe(422);

    const done = await api('PATCH', `/api/registries/fracture/cases/${c.id}/forms/behandling`, t.tokens.registrarSus, {
      values: { treatment_intent: 'conservative' },
    });
    expect(done.statusCode).toBe(200);
    const behandling = done.json().forms.find((x: any) => x.form === 'behandling');
    expect(behandling.data.treatment_intent).toBe('conservative');
    expect(behandling.provenance.treatment_intent).toMatchObject({ kind: 'user', user: 'registrar-sus' });
    expect(behandling.missing).toEqual([]);
    const skade = done.json().forms.find((x: any) => x.form === 'skade');
    expect(skade.data.ao_code).toBe('2R3A2');

    const fin = await api('POST', `/api/registries/fracture/cases/${c.id}/forms/behandling/finalise`, t.tokens.registrarSus);
    expect(fin.statusCode).toBe(200);
    const locked = await api('PATCH', `/api/registries/fracture/cases/${c.id}/forms/behandling`, t.tokens.registrarSus, {
      values: { treatment_intent: 'operative' },
    });
    expect(locked.statusCode).toBe(409);
    expect(locked.json().error).toMatch(/Reopen it/);
    expect((await api('POST', `/api/registries/fracture/cases/${c.id}/forms/behandling/reopen`, t.tokens.registrarSus)).statusCode).toBe(
      200,
    );
    expect(
      (
        await api('PATCH', `/api/registries/fracture/cases/${c.id}/forms/behandling`, t.tokens.registrarSus, {
          values: { treatment_intent: 'operative' },
        })
      ).statusCode,
    ).toBe(200);
    const hist = (await api('GET', `/api/registries/fracture/cases/${c.id}/history`, t.tokens.registrarSus)).json();
    expect(hist.map((h: any) => Object.keys(h.changes)[0])).toEqual(expect.arrayContaining(['$status', 'treatment_intent']));

    // A form with something missing cannot be finalised.
    const notReady = await api('POST', `/api/registries/fracture/cases/${c.id}/forms/operasjon/finalise`, t.tokens.registrarSus);
    expect(notReady.statusCode).toBe(422);
    expect(notReady.json().error).toMatch(/missing surgery_datetime/);
  });

  it('reopens a finalised form when the source system sends new data for it', async () => {
    const f = fracture();
    await post(ehrBundle(f));
    const c = await caseOf(f.id);
    expect((await api('POST', `/api/registries/fracture/cases/${c.id}/forms/skade/finalise`, t.tokens.registrarSus)).statusCode).toBe(200);
    await post(ehrBundle({ ...f, aoCode: '2R3A3' }));
    const skade = await formData(c.id, 'skade');
    expect(skade.status).toBe('reopened');
    expect(skade.data.ao_code).toBe('2R3A3');
  });

  it('records a death date from the population register and re-checks the case', async () => {
    const f = fracture({ nin: nin('1930-01-01', 'female') });
    await post(ehrBundle(f));
    const death = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ resource: { resourceType: 'Patient', identifier: [{ system: SYS.fnr, value: f.nin }], deceasedDateTime: '2024-02-01' } }],
    };
    expect((await post(death)).status).toBe(200);
    const c = await caseOf(f.id);
    const person = (await q('SELECT p.deceased_date FROM person p JOIN registry_case c ON c.person_id = p.id WHERE c.id = $1', [c.id]))[0];
    expect(person.deceased_date).toBe('2024-02-01');
    // The injury (2024-03-01) is after the death date: a rule finding on the case.
    expect((await formData(c.id, 'skade')).findings.map((x: any) => x.rule)).toContain('injury-not-after-death');
    // A death notice about someone never registered creates nobody.
    const before = await counts();
    await post({
      ...death,
      entry: [{ resource: { ...death.entry[0].resource, identifier: [{ system: SYS.fnr, value: nin('1931-01-01') }] } }],
    });
    expect((await counts()).persons).toBe(before.persons);
  });
});
