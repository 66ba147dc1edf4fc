// Registration by hand, for a unit whose systems do not send yet: the same checks of every value,
// the same inclusion and referral rules as capture (a hip fracture goes to the hip fracture
// register, by hand as by message), provenance "user", the patient's name kept encrypted, a patient
// who opted out refused; the case then lives like a captured one (worklist, events). And adding and
// removing an injury by hand on a trauma event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const start = (body: unknown, token = t.tokens.registrarSus, registry = 'fracture') =>
  t.app.inject({
    method: 'POST',
    url: `/api/registries/${registry}/manual-cases`,
    headers: { authorization: `Bearer ${token}` },
    payload: body as object,
  });
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;

describe('a fracture registered by hand', () => {
  const who = nin('1948-07-01', 'female');
  const values = {
    injury_date: '2025-02-03',
    ao_code: '2R3A2.2',
    side: 'right',
    open_fracture: false,
    injury_energy: 'low',
    care_setting: 'emergency',
    first_contact_datetime: '2025-02-03T11:00:00+01:00',
  };

  it('is routed like a captured one: included, on the worklist for what is missing, provenance the user, name encrypted', async () => {
    const res = await start({ nin: `${who.slice(0, 6)} ${who.slice(6)}`, name: 'Astrid Hansen', unit: SUS_ORTHO, values });
    expect(res.statusCode, res.body).toBe(201);
    const caseId = res.json().caseId;
    const [c] = await q("SELECT anchor_key, unit_resh, person_id FROM registry_case WHERE registry = 'fracture' AND id = $1", [caseId]);
    expect(c.anchor_key).toMatch(/^manual:[0-9a-f-]{36}$/);
    expect(c.unit_resh).toBe(SUS_ORTHO);
    expect((await q('SELECT decision FROM routing_decision WHERE anchor_key = $1', [c.anchor_key]))[0].decision).toBe('included');
    const [skade] = await q("SELECT data, provenance FROM case_form WHERE registry = 'fracture' AND case_id = $1 AND form = 'skade'", [
      caseId,
    ]);
    expect(skade.data).toMatchObject({ ao_code: '2R3A2.2', treating_unit: SUS_ORTHO, injury_date: '2025-02-03' });
    expect(skade.provenance.ao_code).toMatchObject({ kind: 'user' });
    // What was not typed in is on the worklist, as for a captured case.
    const wl = (
      await t.app.inject({
        method: 'GET',
        url: `/api/registries/fracture/worklist/rows?q=${caseId}`,
        headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
      })
    ).json();
    expect(wl.rows[0].problems.flatMap((p: any) => p.missing.map((m: any) => m.variable))).toContain('treatment_intent');
    // The header: typed by hand, the name as initials.
    const h = (
      await t.app.inject({
        method: 'GET',
        url: `/api/registries/fracture/cases/${caseId}/header`,
        headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
      })
    ).json();
    expect(h).toMatchObject({ source: { manual: true }, person: { initials: 'A. H.', sex: 'female', birthDate: '1948-07-01' } });
    const [p] = await q('SELECT name_enc FROM person WHERE nin_hash = $1', [ninHash(t.platform.keys, who)]);
    expect(p.name_enc.toString('latin1')).not.toContain('Astrid');
    expect((await q("SELECT actor, action FROM audit_event WHERE action = 'create' AND person_id = $1", [c.person_id]))[0]).toMatchObject({
      actor: 'user:registrar-sus',
    });
  });

  it('is referred by the same rule as capture: a hip fracture (AO 31) belongs to the hip fracture register', async () => {
    const res = await start({ nin: nin('1940-01-01'), unit: SUS_ORTHO, values: { ...values, ao_code: '31A1.2' } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ code: 'manual.referred', params: { target: 'Nasjonalt hoftebruddregister' } });
    // The same fracture by message: referred, no case either.
    const f = fracture({ aoCode: '31A1.2' });
    const msg = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
    expect(JSON.stringify(msg.json())).toMatch(/referred to Norwegian Hip Fracture Register/);
    expect(await q('SELECT 1 FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`])).toEqual([]);
  });

  it("checks every value as capture does: the future, old codes (with the suggestion), unknown units, units not one's own", async () => {
    const bad = await start({
      nin: nin('1950-01-01'),
      unit: SUS_ORTHO,
      values: { ...values, injury_date: '2031-01-01', ao_code: '23A2.1' },
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ variable: 'injury_date', rule: 'not-in-future' }),
        expect.objectContaining({ variable: 'ao_code', suggestion: '2R3A2.1' }),
      ]),
    );
    expect((await start({ nin: nin('1950-01-01'), unit: OTHER_ORTHO, values })).json().details[0].rule).toBe('unit-not-yours');
    expect((await start({ nin: '01010112345', unit: SUS_ORTHO, values })).json().code).toBe('nin.invalid');
    // A reader may not register.
    expect((await start({ nin: nin('1950-01-01'), unit: OTHER_ORTHO, values }, t.tokens.readerOther)).statusCode).toBe(403);
  });

  it('refuses a patient who opted out, storing nothing', async () => {
    const reserved = nin('1960-03-03', 'male');
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/api/reservations',
          headers: { authorization: `Bearer ${t.tokens.admin}` },
          payload: { value: reserved },
        })
      ).statusCode,
    ).toBe(201);
    const res = await start({ nin: reserved, name: 'Per Reservert', unit: SUS_ORTHO, values });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('patient.reserved');
    expect(await q('SELECT 1 FROM person WHERE nin_hash = $1', [ninHash(t.platform.keys, reserved)])).toEqual([]);
  });
});

describe('injuries added and removed by hand on a trauma event', () => {
  it('adds an injury, fills in its code, and deletes another, with history', async () => {
    const token = await createToken(t.platform.db.pool, {
      name: 'trauma-sus',
      kind: 'user',
      grants: [{ registry: 'trauma', role: 'unit-registrar', unit: '8201100' }],
    });
    const res = await start(
      {
        nin: nin('1985-06-06', 'male'),
        name: 'Ola Nordmann',
        unit: '8201102',
        values: { accident_date: '2025-03-01', trauma_team_activated: true },
      },
      token,
      'trauma',
    );
    expect(res.statusCode, res.body).toBe(201);
    const caseId = res.json().caseId;
    const add = (values: Record<string, unknown>) =>
      t.app.inject({
        method: 'POST',
        url: `/api/registries/trauma/cases/${caseId}/forms/skadegradering/instances`,
        headers: { authorization: `Bearer ${token}` },
        payload: { values },
      });
    const one = await add({});
    expect(one.statusCode, one.body).toBe(201);
    const empty = one.json().instance;
    expect(empty).toMatch(/^manual:/);
    expect(one.json().forms.find((f: any) => f.instance === empty)).toMatchObject({
      form: 'skadegradering',
      status: 'draft',
      missing: ['ais_code'],
    });
    const two = await add({ ais_code: '450203.3' });
    expect(two.statusCode, two.body).toBe(201);
    // Fill the first; the score follows.
    const filled = await t.app.inject({
      method: 'PATCH',
      url: `/api/registries/trauma/cases/${caseId}/forms/skadegradering/${encodeURIComponent(empty)}`,
      headers: { authorization: `Bearer ${token}` },
      payload: { values: { ais_code: '853000.3' } },
    });
    expect(filled.statusCode, filled.body).toBe(200);
    const h = (
      await t.app.inject({
        method: 'GET',
        url: `/api/registries/trauma/cases/${caseId}/header`,
        headers: { authorization: `Bearer ${token}` },
      })
    ).json();
    expect(h.values.find((v: any) => v.variable === 'iss').value).toBe(18);
    // Delete the second.
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/api/registries/trauma/cases/${caseId}/forms/skadegradering/${encodeURIComponent(two.json().instance)}`,
      headers: { authorization: `Bearer ${token}` },
    });
    expect(del.statusCode).toBe(204);
    expect(
      (
        await q("SELECT count(*)::int AS n FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'skadegradering'", [caseId])
      )[0].n,
    ).toBe(1);
    // A form every case has cannot be added twice; another unit's registrar cannot add to this case.
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: `/api/registries/trauma/cases/${caseId}/forms/ulykke/instances`,
          headers: { authorization: `Bearer ${token}` },
          payload: { values: {} },
        })
      ).statusCode,
    ).toBe(409);
    const other = await createToken(t.platform.db.pool, {
      name: 'trauma-kalnes',
      kind: 'user',
      grants: [{ registry: 'trauma', role: 'unit-registrar', unit: '8101100' }],
    });
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: `/api/registries/trauma/cases/${caseId}/forms/skadegradering/instances`,
          headers: { authorization: `Bearer ${other}` },
          payload: { values: {} },
        })
      ).statusCode,
    ).toBe(403);
  });
});
