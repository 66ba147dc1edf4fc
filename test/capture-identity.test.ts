// Identity numbers at the edges (issue 11), through the FHIR API as hospitals send them, on a
// deployment that does NOT accept test numbers (production's setting):
//   - felles hjelpenummer (FH-numbers) under the HL7 Norway FHN system, with nothing derived;
//     local H-numbers kept apart (their own type, keyed by the institution that assigned them);
//   - test numbers refused unless the deployment allows them;
//   - a registry that requires a fødselsnummer or D-number (the fracture register: "Pasienten må
//     være registrert med norsk personnummer (evt D-nummer)", shared seed 000 §1.2) keeps a case of
//     a patient known only by a temporary number waiting on the worklist, out of the statistics;
//   - when the temporary number is resolved to the real one (by the sending system, or by an
//     admin), the two persons become one: cases joined, history kept, audited, innsyn complete;
//   - a reservation under either number applies to the person.
// Sources of the identifier systems: HL7 Norway's basis profiles (HL7Norway/basisprofiler-r4,
// NamingSystem/no-basis-felleshjelpenummer.namingsystem.xml: FHN = OID 2.16.578.1.12.4.1.4.3;
// StructureDefinition no-basis-Patient: the HNR slice, system "HNR", type HNR of Volven 8327
// (urn:oid:2.16.578.1.12.4.1.1.8327), assigner mandatory); HL7Norway/kodeverk
// no-basis-identifikator-namespace (…4.1.4.1 FNR, …4.1.4.2 DNR, …4.1.4.3 felles hjelpenummer).
// FH-number rule: Norsk Helsenett, https://nhn.no/hva-er-felles-hjelpenummer/ (11 digits, first
// 8 or 9, two check digits as in the fødselsnummer, no meaning otherwise). FHIR R4 Patient.link
// types replaces / replaced-by: https://hl7.org/fhir/R4/codesystem-link-type.html.
// The numbers below are generated here by those rules; they are not taken from anyone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { identityHashesIn } from '../src/capture/identity.ts';
import { loadConfig } from '../src/config.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { ehrBundle, SYS } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { dated, fhNumber, seeded } from './helpers/numbers.ts';
import { SUS_HOSPITAL, testPlatform, type TestPlatform } from './helpers/platform.ts';

const FNR = 'urn:oid:2.16.578.1.12.4.1.4.1',
  DNR = 'urn:oid:2.16.578.1.12.4.1.4.2',
  FHN = 'urn:oid:2.16.578.1.12.4.1.4.3';
const RESH = 'urn:oid:2.16.578.1.12.4.1.4.102';
const hnr = (value: string, assigner = SUS_HOSPITAL) => ({
  type: { coding: [{ system: 'urn:oid:2.16.578.1.12.4.1.1.8327', code: 'HNR' }] },
  system: 'HNR',
  value,
  assigner: { identifier: { system: RESH, value: assigner } },
});

const random = seeded(20250611);
const fnr = (birthDate = '1971-04-12', sex: 'male' | 'female' = 'female') => dated(birthDate, sex, random);
const generateFhNumber = fhNumber;

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_ALLOW_TEST_IDENTITIES: '0' });
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const post = async (bundle: unknown, token = t.tokens.ehr) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  return { status: res.statusCode, body: res.json(), text: res.body };
};
const api = (method: 'GET' | 'POST' | 'PATCH', url: string, token: string, payload?: unknown) =>
  t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as any }),
  });
/** A fracture whose Patient carries exactly these identifiers (and links). */
const withIdentifiers = (
  spec: ReturnType<typeof fracture>,
  identifier: unknown[],
  link?: unknown[],
  type: 'transaction' | 'batch' = 'transaction',
) => {
  const b = ehrBundle(spec, type);
  b.entry[0].resource.identifier = identifier;
  if (link) b.entry[0].resource.link = link;
  return b;
};
const caseOf = async (id: string) =>
  (
    await q(
      `SELECT c.id, c.person_id, c.invalid_reason, p.nin_kind, p.birth_date::text AS birth_date, p.sex
  FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = 'fracture' AND c.anchor_key = $1`,
      [`Condition|urn:oid:2.16.578.1.12.4.1.999.1.condition|${id}`],
    )
  )[0];
const issuesOf = (body: any): Array<{ rule?: string; text: string }> =>
  [...(body.issue ?? []), ...(body.entry ?? []).flatMap((e: any) => e.response?.outcome?.issue ?? [])].map((i: any) => ({
    rule: i.extension?.find((x: any) => /rule/.test(x.url))?.valueString ?? i.code,
    text: String(i.diagnostics ?? ''),
  }));

describe('felles hjelpenummer and local H-numbers', () => {
  it('accepts an FH-number under the FHN system and derives no birth date or sex from it', async () => {
    const f = fracture({ nin: generateFhNumber(random), ninSystem: FHN });
    const res = await post(ehrBundle(f));
    expect(res.status, res.text).toBe(200);
    const c = await caseOf(f.id);
    expect(c).toMatchObject({ nin_kind: 'fhn', birth_date: null, sex: null });
    // The number is kept only encrypted, and found again by its keyed hash.
    expect(JSON.stringify(await q('SELECT * FROM person'))).not.toContain(f.nin);
    expect((await q('SELECT id FROM person WHERE nin_hash = $1', [ninHash(t.platform.keys, f.nin)]))[0].id).toBe(c.person_id);
  });

  it('refuses an H-number sent as an FH-number, saying how a local H-number is sent', async () => {
    const f = fracture({ nin: dated('1988-08-08', 'male', random, { month: 40 }), ninSystem: FHN });
    const res = await post(ehrBundle(f));
    expect(res.status).toBe(422);
    expect(res.text).toMatch(/felles hjelpenummer \(FH-number: 11 digits starting with 8 or 9\)/);
    expect(res.text).toMatch(/identifier\.type HNR/);
    expect(res.text).not.toContain(f.nin); // the number is never echoed
    expect(await caseOf(f.id)).toBeUndefined();
  });

  it('keeps local H-numbers apart: keyed by the institution that assigned them, with the birth date they encode', async () => {
    const h = dated('1990-01-15', 'male', random, { month: 40 });
    const atSus = fracture(),
      atKalnes = fracture();
    expect((await post(withIdentifiers(atSus, [hnr(h, SUS_HOSPITAL)]))).status).toBe(200);
    expect((await post(withIdentifiers(atKalnes, [hnr(h, '8101100')]))).status).toBe(200);
    const [a, b] = [await caseOf(atSus.id), await caseOf(atKalnes.id)];
    expect(a).toMatchObject({ nin_kind: 'hnr', birth_date: '1990-01-15', sex: 'male' });
    expect(b.person_id).not.toBe(a.person_id); // two hospitals' equal H-numbers: two patients
    // An H-number on a D-number (day + 40 and month + 40) is one too.
    const dh = fracture();
    expect((await post(withIdentifiers(dh, [hnr(dated('1993-03-03', 'female', random, { day: 40, month: 40 }))]))).status).toBe(200);
    expect(await caseOf(dh.id)).toMatchObject({ nin_kind: 'hnr', birth_date: '1993-03-03', sex: 'female' });
    // Without its assigner an H-number names nobody for sure: refused with the reason.
    const none = await post(withIdentifiers(fracture(), [{ ...hnr(h), assigner: undefined }]));
    expect(none.status).toBe(422);
    expect(none.text).toMatch(/needs identifier\.assigner\.identifier/);
    // The raw message's identity hashes (for a reservation) hold the H-number as it is keyed.
    const text = JSON.stringify(withIdentifiers(atSus, [hnr(h, SUS_HOSPITAL)]));
    // (keyed as "HNR|<assigner system>|<assigner value>|<number>", capture/identity.ts)
    expect(identityHashesIn(t.platform.keys, text).map((x) => x.toString('hex'))).toContain(
      ninHash(t.platform.keys, `HNR|${RESH}|${SUS_HOSPITAL}|${h}`).toString('hex'),
    );
  });

  it('finds FH-numbers in raw message text, for a reservation that arrives before the message is processed', () => {
    const fh = generateFhNumber(random);
    const found = identityHashesIn(t.platform.keys, `{"identifier":[{"system":"${FHN}","value":"${fh}"}]}`).map((x) => x.toString('hex'));
    expect(found).toEqual([ninHash(t.platform.keys, fh).toString('hex')]);
  });
});

describe('test numbers', () => {
  it('are refused where the deployment does not allow them, with a clear message', async () => {
    const synthetic = dated('1980-05-05', 'female', random, { month: 80 }); // month + 80
    const plus40 = dated('1980-05-05', 'female', random, { month: 40 }); // month + 40 …
    const dplus40 = dated('1980-05-05', 'female', random, { day: 40, month: 40 }); // … also on a D-number
    for (const [nin, ninSystem] of [
      [synthetic, FNR],
      [plus40, FNR],
      [dplus40, DNR],
    ]) {
      const res = await post(ehrBundle(fracture({ nin, ninSystem })));
      expect(res.status, nin).toBe(422);
      expect(
        issuesOf(res.body).some((i) => /test identity number/.test(i.text) && /KVALREG_ALLOW_TEST_IDENTITIES=1/.test(i.text)),
        res.text,
      ).toBe(true);
    }
    expect(Number((await q("SELECT count(*) FROM person WHERE nin_kind LIKE 'synthetic-%'"))[0].count)).toBe(0);
  });

  it('are a switch of the deployment, off unless set', () => {
    expect(loadConfig({}).allowTestIdentities).toBe(false);
    expect(loadConfig({ KVALREG_ALLOW_TEST_IDENTITIES: '1' }).allowTestIdentities).toBe(true);
    expect(loadConfig({ KVALREG_ALLOW_TEST_IDENTITIES: 'true' }).allowTestIdentities).toBe(true);
    expect(loadConfig({ KVALREG_ALLOW_TEST_IDENTITIES: '0' }).allowTestIdentities).toBe(false);
    expect(() => loadConfig({ KVALREG_ALLOW_TEST_IDENTITIES: 'perhaps' })).toThrow(/KVALREG_ALLOW_TEST_IDENTITIES must be 1 or 0/);
  });
});

describe('a registry that requires a fødselsnummer or D-number', () => {
  it('keeps the fracture of a patient known only by an FH-number waiting, out of the statistics; resolving the number joins the persons', async () => {
    const fh = generateFhNumber(random);
    const real = fnr('1964-09-21', 'male');
    const f = fracture({ nin: fh, ninSystem: FHN, intent: 'conservative' });
    expect((await post(ehrBundle(f))).status).toBe(200);
    const waiting = await caseOf(f.id);
    expect(waiting.invalid_reason).toBe('identity-required');

    // On the worklist, with the reason in words.
    const list = (await api('GET', '/api/registries/fracture/worklist?limit=1000', t.tokens.admin)).json();
    const item = list.items.find((i: any) => i.caseId === waiting.id);
    expect(item.waitingForIdentity).toBe(true);
    const finding = item.forms.flatMap((x: any) => x.findings).find((x: any) => x.rule === 'identity-required');
    expect(finding.message.nb).toMatch(
      /^Venter på identitet: pasienten er bare kjent med felles hjelpenummer \(FH-nummer\), og registeret krever fødselsnummer eller D-nummer/,
    );
    // It cannot be finalised while it waits, and it has no row in the statistics.
    const form = item.forms.find((x: any) => x.findings.some((y: any) => y.rule === 'identity-required')).form;
    const fin = await api('POST', `/api/registries/fracture/cases/${waiting.id}/forms/${form}/finalise`, t.tokens.registrarSus);
    expect(fin.statusCode).toBe(422);
    await t.platform.analytics.refresh();
    expect(await q('SELECT 1 FROM analytics.fracture WHERE case_id = $1', [waiting.id])).toHaveLength(0);
    // A registrar completes a value meanwhile: history that must survive the merge.
    const patch = await api('PATCH', `/api/registries/fracture/cases/${waiting.id}/forms/behandling`, t.tokens.registrarSus, {
      values: { treatment_intent: 'operative' },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const historyBefore = await q('SELECT form, version, changes FROM value_history WHERE case_id = $1 ORDER BY form, version', [
      waiting.id,
    ]);

    // The hospital learns who the patient is and says so: the Patient with the fødselsnummer
    // replaces the one with the FH-number (Patient.link), in a message of its own.
    const again = fracture({ nin: real, intent: undefined });
    const resolve = withIdentifiers(
      again,
      [{ system: FNR, value: real }],
      [{ type: 'replaces', other: { identifier: { system: FHN, value: fh } } }],
    );
    const res = await post({ ...resolve, entry: [resolve.entry[0]] });
    expect(res.status, res.text).toBe(200);

    const joined = await caseOf(f.id);
    expect(joined.id).toBe(waiting.id); // the same case, now the real person's
    expect(joined).toMatchObject({ nin_kind: 'fnr', birth_date: '1964-09-21', sex: 'male', invalid_reason: null });
    expect(joined.person_id).not.toBe(waiting.person_id);
    expect(await q('SELECT 1 FROM person WHERE id = $1', [waiting.person_id])).toHaveLength(0);
    expect(await q('SELECT form, version, changes FROM value_history WHERE case_id = $1 ORDER BY form, version', [waiting.id])).toEqual(
      historyBefore,
    );
    const [merge] = await q('SELECT from_id, into_id, from_kind, by_actor, source FROM person_merge WHERE from_hash = $1', [
      ninHash(t.platform.keys, fh),
    ]);
    expect(merge).toEqual({
      from_id: waiting.person_id,
      into_id: joined.person_id,
      from_kind: 'fhn',
      by_actor: 'system:sus-dips',
      source: 'message',
    });
    const [audited] = await q("SELECT actor, person_id FROM audit_event WHERE action = 'merge' AND person_id = $1", [waiting.person_id]);
    expect(audited.actor).toBe('system:sus-dips');
    // Off the worklist's identity wait, and in the statistics now.
    const after = (await api('GET', '/api/registries/fracture/worklist?limit=1000', t.tokens.admin))
      .json()
      .items.find((i: any) => i.caseId === waiting.id);
    expect(after?.waitingForIdentity ?? false).toBe(false);
    expect((after?.forms ?? []).flatMap((x: any) => x.findings).some((x: any) => x.rule === 'identity-required')).toBe(false);
    await t.platform.analytics.refresh();
    expect(await q('SELECT person_id FROM analytics.fracture WHERE case_id = $1', [waiting.id])).toEqual([{ person_id: joined.person_id }]);

    // A later message that still names the FH-number is about the same person (the resource is updated, not refused).
    const late = await post(ehrBundle({ ...f, intent: 'operative', open: true }));
    expect(late.status, late.text).toBe(200);
    expect((await caseOf(f.id)).person_id).toBe(joined.person_id);
    expect(await q('SELECT 1 FROM person WHERE nin_hash = $1', [ninHash(t.platform.keys, fh)])).toHaveLength(0);

    // The patient's innsyn shows what was recorded under the FH-number's person too.
    const patient = await createToken(t.platform.db.pool, {
      name: 'patient-merged',
      kind: 'user',
      grants: [{ registry: '*', role: 'patient', unit: '1' }],
      personHash: ninHash(t.platform.keys, real),
    });
    const view = (await api('GET', '/api/innsyn?lang=en', patient)).json();
    expect(view.registries.flatMap((r: any) => r.cases).map((c: any) => c.id)).toContain(waiting.id);
    const oldEvents = await q('SELECT count(*)::int AS n FROM audit_event WHERE person_id = $1', [waiting.person_id]);
    const newEvents = await q(
      "SELECT count(*)::int AS n FROM audit_event WHERE person_id = $1 AND NOT (action = 'read' AND object = 'innsyn')",
      [joined.person_id],
    );
    expect(oldEvents[0].n).toBeGreaterThan(0);
    expect(view.accessLog.length).toBe(oldEvents[0].n + newEvents[0].n);
    expect(view.accessLog.filter((e: any) => e.action === 'update').length).toBe(1); // the registrar's edit, made before the merge
    // … and the audit API, asked by either number, answers with both persons' events.
    const byReal = await t.app.inject({
      method: 'POST',
      url: '/api/audit/search',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
      payload: { nin: real, limit: 1000 },
    });
    const byFh = await t.app.inject({
      method: 'POST',
      url: '/api/audit/search',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
      payload: { nin: fh, system: FHN, limit: 1000 },
    });
    expect(byReal.statusCode, byReal.body).toBe(200);
    expect(byFh.statusCode, byFh.body).toBe(200);
    const persons = (r: typeof byReal) => new Set(r.json().events.map((e: any) => e.personId));
    expect(persons(byReal)).toEqual(new Set([waiting.person_id, joined.person_id]));
    expect(persons(byFh)).toEqual(new Set([waiting.person_id, joined.person_id]));
  });

  it('joins when the FH-number and the fødselsnummer stand side by side on one Patient', async () => {
    const fh = generateFhNumber(random),
      real = fnr('1950-02-03', 'female');
    const first = fracture({ nin: fh, ninSystem: FHN });
    expect((await post(ehrBundle(first))).status).toBe(200);
    const second = fracture();
    expect(
      (
        await post(
          withIdentifiers(second, [
            { system: FHN, value: fh },
            { system: FNR, value: real },
          ]),
        )
      ).status,
    ).toBe(200);
    const [a, b] = [await caseOf(first.id), await caseOf(second.id)];
    expect(a.person_id).toBe(b.person_id);
    expect(a).toMatchObject({ nin_kind: 'fnr', invalid_reason: null });
  });
});

describe('joining persons by hand: POST /api/persons/merge', () => {
  it('lets an admin of every registry join a patient registered with an auxiliary number into the real one; audited; refused to others', async () => {
    const issued = (await api('POST', '/api/auxiliary-numbers', t.tokens.ehr)).json();
    const real = fnr('1977-07-07', 'male');
    const unknown = fracture(),
      known = fracture({ nin: real });
    expect((await post(withIdentifiers(unknown, [{ system: issued.system, value: issued.value }]))).status).toBe(200);
    expect((await post(ehrBundle(known))).status).toBe(200);
    const [a, b] = [await caseOf(unknown.id), await caseOf(known.id)];
    expect(a.invalid_reason).toBe('identity-required');
    const body = { from: { system: issued.system, value: issued.value }, into: { system: FNR, value: real } };

    expect((await api('POST', '/api/persons/merge', t.tokens.registrarSus, body)).statusCode).toBe(403);
    const fractureAdmin = await createToken(t.platform.db.pool, {
      name: 'fracture-admin',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'registry-admin', unit: '1' }],
    });
    expect((await api('POST', '/api/persons/merge', fractureAdmin, body)).statusCode).toBe(403); // it concerns every registry
    const res = await api('POST', '/api/persons/merge', t.tokens.admin, body);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ merged: true, fromPerson: a.person_id, intoPerson: b.person_id, movedCases: 1, reserved: false });
    expect(await caseOf(unknown.id)).toMatchObject({ person_id: b.person_id, invalid_reason: null });
    const events = await q(
      "SELECT actor, person_id, outcome FROM audit_event WHERE action = 'merge' AND person_id = ANY($1::bigint[]) ORDER BY person_id",
      [[a.person_id, b.person_id]],
    );
    expect(events.map((e) => e.person_id).sort()).toEqual([a.person_id, b.person_id].sort());
    expect(events.every((e) => e.actor === 'user:admin' && e.outcome === 'ok')).toBe(true);
    // The registrar is refused at the route (no admin role at all); the fracture register's admin
    // reaches the door, and is refused there, on the record.
    const denied = await q("SELECT actor FROM audit_event WHERE purpose = 'person:merge' AND outcome = 'denied'");
    expect(denied).toEqual([{ actor: 'user:fracture-admin' }]);

    // Asked again: the numbers already name one person. Unknown numbers and bad input are answered clearly.
    expect((await api('POST', '/api/persons/merge', t.tokens.admin, body)).statusCode).toBe(409);
    const none = await api('POST', '/api/persons/merge', t.tokens.admin, {
      from: { system: FHN, value: generateFhNumber(random) },
      into: { system: FNR, value: real },
    });
    expect(none.statusCode).toBe(404);
    const bad = await api('POST', '/api/persons/merge', t.tokens.admin, {
      from: { system: FHN, value: '81234567890' },
      into: { system: FNR, value: real },
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error).toMatch(/from\.value: Invalid national identity number: check digit/);
    expect((await api('POST', '/api/persons/merge', t.tokens.admin, { from: 'x' })).statusCode).toBe(400);
  });
});

describe('a reservation under either number', () => {
  it('removes the merged person when the real number opted out before the merge', async () => {
    const fh = generateFhNumber(random),
      real = fnr('1966-06-16', 'female');
    const f = fracture({ nin: fh, ninSystem: FHN });
    expect((await post(ehrBundle(f))).status).toBe(200);
    expect((await api('POST', '/api/reservations', t.tokens.admin, { system: FNR, value: real })).statusCode).toBe(201);
    const res = await api('POST', '/api/persons/merge', t.tokens.admin, {
      from: { system: FHN, value: fh },
      into: { system: FNR, value: real },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().reserved).toBe(true);
    expect(await caseOf(f.id)).toBeUndefined();
    const reserved = await q('SELECT count(*)::int AS n FROM reservation WHERE nin_hash = ANY($1::bytea[])', [
      [ninHash(t.platform.keys, fh), ninHash(t.platform.keys, real)],
    ]);
    expect(reserved[0].n).toBe(2);
    // A later message naming the FH-number is refused, as one naming the real number is.
    expect((await post(ehrBundle(fracture({ nin: fh, ninSystem: FHN })))).status).toBe(403);
  });

  it('makes the real number refused too when the temporary one opted out, and what came after is not kept', async () => {
    const fh = generateFhNumber(random),
      real = fnr('1959-03-30', 'male');
    expect((await api('POST', '/api/reservations', t.tokens.admin, { system: FHN, value: fh })).statusCode).toBe(201);
    const known = fracture({ nin: real });
    expect((await post(ehrBundle(known))).status).toBe(200);
    // A batch saying the two numbers are one patient: refused for the reservation, and the real
    // number's earlier data removed.
    const res = await post(
      withIdentifiers(
        fracture(),
        [
          { system: FNR, value: real },
          { system: FHN, value: fh },
        ],
        undefined,
        'batch',
      ),
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body.entry.every((e: any) => e.response.status === '403 Forbidden')).toBe(true);
    expect(await caseOf(known.id)).toBeUndefined();
    expect((await post(ehrBundle(fracture({ nin: real })))).status).toBe(403);
  });

  it('opting out under the real number after a merge refuses later messages with the temporary number', async () => {
    const fh = generateFhNumber(random),
      real = fnr('1982-12-24', 'female');
    expect((await post(ehrBundle(fracture({ nin: fh, ninSystem: FHN })))).status).toBe(200);
    expect(
      (await api('POST', '/api/persons/merge', t.tokens.admin, { from: { system: FHN, value: fh }, into: { system: FNR, value: real } }))
        .statusCode,
    ).toBe(200);
    const patient = await createToken(t.platform.db.pool, {
      name: 'patient-out',
      kind: 'user',
      grants: [{ registry: '*', role: 'patient', unit: '1' }],
      personHash: ninHash(t.platform.keys, real),
    });
    const out = await api('POST', '/api/innsyn/reservation', patient);
    expect(out.statusCode, out.body).toBe(201);
    expect(out.json()).toMatchObject({ removedPerson: true, removedCases: 1 });
    expect(await q('SELECT 1 FROM person_merge WHERE from_hash = $1', [ninHash(t.platform.keys, fh)])).toHaveLength(0);
    expect((await post(ehrBundle(fracture({ nin: fh, ninSystem: FHN })))).status).toBe(403);
  });
});

it('the fracture register declares the requirement, generically (registry.yaml)', () => {
  expect(t.platform.registry('fracture')!.meta.requires).toEqual({ identity: ['fnr', 'dnr'] });
  expect(t.platform.registry('trauma')!.meta.requires).toBeUndefined();
  expect(SYS.fnr).toBe(FNR);
});
