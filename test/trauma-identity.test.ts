// The trauma register's everyday case (issue 11): an unconscious, unidentified patient received
// with a felles hjelpenummer (FH-number), transferred, and identified later. The register takes
// patients of unknown identity ("For pasienter med ukjent ID kan det opprettes hjelpe-ID",
// definition catalogue v1.7 §4, shared seed 003) and generates the trauma ID from the identity
// number and the accident date ("Generering av traume ID"): so the case counts at once, and when
// the real number is known the persons become one and the trauma IDs are recomputed — a transfer
// registered under the real number joins the event, a second alarm the same day is merged.
// FH-number rule and system: Norsk Helsenett (https://nhn.no/hva-er-felles-hjelpenummer/); HL7
// Norway NamingSystem no-basis-felleshjelpenummer (OID 2.16.578.1.12.4.1.4.3, HL7Norway/basisprofiler-r4).
// Patient.link replaces: FHIR R4 (https://hl7.org/fhir/R4/codesystem-link-type.html).
// The numbers are generated here by those rules; they are not taken from anyone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ninHash } from '../src/identity/crypto.ts';
import { eventKey, SAME_DAY } from '../src/records/events.ts';
import { dated, fhNumber, seeded } from './helpers/numbers.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';
import { traumaBundle, type TraumaSpec } from './helpers/trauma.ts';

const FNR = 'urn:oid:2.16.578.1.12.4.1.4.1',
  FHN = 'urn:oid:2.16.578.1.12.4.1.4.3';
const SUS_ED = '8201102',
  KALNES_ED = '8101102',
  SUS = '8201100';
const random = seeded(7302);

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_ALLOW_TEST_IDENTITIES: '0' });
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const post = async (bundle: unknown) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  expect(res.statusCode, res.body).toBe(200);
  return res;
};
/** A trauma message whose Patient carries these identifiers (and links). */
const message = (s: TraumaSpec, identifier: unknown[], link?: unknown[]) => {
  const b = traumaBundle(s);
  b.entry[0].resource.identifier = identifier;
  if (link) b.entry[0].resource.link = link;
  return b;
};
let n = 0;
const spec = (over: Partial<TraumaSpec>): TraumaSpec => ({
  id: `tid-${++n}`,
  nin: '',
  unitResh: SUS_ED,
  arrival: '2024-06-01T02:10:00+02:00',
  traumaTeam: true,
  accident: { at: '2024-06-01T01:30:00+02:00' },
  mechanism: 'traffic_motor_vehicle',
  intention: 'accident',
  injuryType: 'blunt',
  arrivalVitals: { gcs: 6, sbp: 90, rr: 28 },
  ais: ['140652.4'],
  ...over,
});
const caseOf = async (s: TraumaSpec) =>
  (
    await q(
      `SELECT c.id, c.person_id, c.unit_resh, c.event_key, c.invalid_reason, c.merged_into, p.nin_kind
   FROM registry_case c JOIN person p ON p.id = c.person_id WHERE c.registry = 'trauma' AND c.anchor_key LIKE '%|' || $1`,
      [s.id],
    )
  )[0];

describe('an unidentified trauma patient with an FH-number', () => {
  it("counts at once, gets a trauma ID, and joins the real person's transfer and same-day alarm when identified", async () => {
    const fh = fhNumber(random);
    const real = dated('1987-10-10', 'male', random);
    // Night: received unconscious at SUS with an FH-number; the trauma register needs no more to count the case.
    const night = spec({});
    await post(message(night, [{ system: FHN, value: fh }]));
    const a0 = await caseOf(night);
    expect(a0).toMatchObject({ nin_kind: 'fhn', invalid_reason: null });
    expect(a0.event_key).toBe(eventKey(t.platform.keys, 'trauma', ninHash(t.platform.keys, fh).toString('hex'), '2024-06-01'));
    // Morning: identified at SUS's ward, a second alarm the same day for the same accident under
    // the real number; next day transferred to Kalnes, registered there under the real number.
    const evening = spec({ arrival: '2024-06-01T19:00:00+02:00', ais: ['450203.3'] });
    await post(message(evening, [{ system: FNR, value: real }]));
    const transfer = spec({
      unitResh: KALNES_ED,
      transferredFrom: SUS,
      arrival: '2024-06-02T09:00:00+02:00',
      accident: { at: '2024-06-01' },
    });
    await post(message(transfer, [{ system: FNR, value: real }]));
    const before = [await caseOf(night), await caseOf(evening), await caseOf(transfer)];
    expect(new Set(before.map((c) => c.person_id)).size).toBe(2); // two persons so far
    expect(before[1].event_key).not.toBe(before[0].event_key);
    expect(before.map((c) => c.invalid_reason)).toEqual([null, null, null]);

    // SUS's record system says who the FH-number patient is (Patient.link replaces).
    const resolve = message(
      spec({}),
      [{ system: FNR, value: real }],
      [{ type: 'replaces', other: { identifier: { system: FHN, value: fh } } }],
    );
    await post({ ...resolve, entry: [resolve.entry[0]] });

    const [a, b, c] = [await caseOf(night), await caseOf(evening), await caseOf(transfer)];
    expect(new Set([a.person_id, b.person_id, c.person_id]).size).toBe(1); // one person
    expect(a.nin_kind).toBe('fnr');
    const key = eventKey(t.platform.keys, 'trauma', ninHash(t.platform.keys, real).toString('hex'), '2024-06-01');
    expect([a.event_key, b.event_key, c.event_key]).toEqual([key, key, key]); // one trauma event, its ID from the real number
    // The evening alarm at the same unit the same day is the second registration of the event: merged into the night's.
    expect(b).toMatchObject({ invalid_reason: SAME_DAY, merged_into: a.id });
    expect([a.invalid_reason, c.invalid_reason]).toEqual([null, null]);
    // Its injury is carried over into the valid registration, with its provenance.
    const injuries = await q("SELECT data FROM case_form WHERE case_id = $1 AND form = 'skadegradering' ORDER BY instance", [a.id]);
    expect(injuries.map((r) => r.data.ais_code).sort()).toEqual(['140652.4', '450203.3']);
    // Recorded: the merge, by the sending system.
    expect(await q('SELECT from_kind, by_actor, source FROM person_merge WHERE into_id = $1', [a.person_id])).toEqual([
      { from_kind: 'fhn', by_actor: 'system:sus-dips', source: 'message' },
    ]);
  });
});
