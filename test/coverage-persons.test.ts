// The person stored on each NPR episode (migration 126) kept current as persons come and go: the
// linkage joins episodes with cases by that column, so every way a number comes to name another
// person must reach it, or coverage goes wrong silently. Each step is worked out by hand, at SUS
// in 2024 (the fracture register links a case injured up to 14 days before the contact):
//   - an episode imported before its patient was ever captured ("only in NPR"), linked once the
//     hospital registers the fracture;
//   - a patient registered under a felles hjelpenummer (FH-number) whose episode carries the real
//     number, re-identified by the hospital (Patient.link "replaces", FHIR R4
//     https://hl7.org/fhir/R4/codesystem-link-type.html);
//   - persons merged by hand, then merged again (the earlier merge moved along);
//   - the surviving person opts out: every episode under any of their numbers removed and counted;
//   - a person created by a transaction running beside the import (it cannot see the import's rows,
//     nor the import its person), also when the process stopped between the import and the look-up
//     after it.
// After every step the stored person equals what the number names (kvalreg_person_id_by_hash).
// FH-number rule: Norsk Helsenett, https://nhn.no/hva-er-felles-hjelpenummer/ (generated here).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle, type FractureSpec } from '../registries/fracture/bundles.ts';
import { encryptNin, ninHash } from '../src/identity/crypto.ts';
import { parseNin } from '../src/identity/nin.ts';
import type { CoverageRow } from '../src/quality/coverage.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { fhNumber, seeded } from './helpers/numbers.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

const FNR = 'urn:oid:2.16.578.1.12.4.1.4.1',
  FHN = 'urn:oid:2.16.578.1.12.4.1.4.3';
const at = (date: string) => `${date}T10:00:00+01:00`;
const P = {
  A: nin('1950-01-01', 'male'), // first captured after the import
  X: nin('1951-01-01', 'male'), // merged into Y, which is merged into Z
  Y: nin('1952-01-01', 'male'),
  Z: nin('1953-01-01', 'male'),
  R: nin('1954-01-01', 'female'), // the real number of the patient first registered under FH
  C: nin('1955-01-01', 'female'), // created beside the import (2023)
};
const FH = fhNumber(seeded(20261207));
const at2024 = (who: string, date: string, over: Partial<FractureSpec> = {}): FractureSpec =>
  fracture({ nin: who, unitResh: SUS_ORTHO, injuryDateTime: at(date), firstContact: at(date), ...over });
const HEADER = 'episode_id;national_id;hospital_resh;admission_date;discharge_date;contact_type;icd10;ncsp';
const EXTRACT_2024 = [
  HEADER,
  `a1;${P.A};${SUS_HOSPITAL};2024-02-01;2024-02-01;outpatient;S52.5;`,
  `x1;${P.X};${SUS_HOSPITAL};2024-03-01;2024-03-02;inpatient;S52.5;`,
  `y1;${P.Y};${SUS_HOSPITAL};2024-03-20;2024-03-20;outpatient;S62.3;`,
  `r1;${P.R};${SUS_HOSPITAL};2024-05-01;2024-05-01;outpatient;S82.6;`,
].join('\n');

let t: TestPlatform;
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
const capture = async (bundle: unknown) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(bundle),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
};
const api = (url: string, payload: unknown) =>
  t.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${t.tokens.admin}` }, payload: payload as any });
const personOf = async (number: string): Promise<number | null> =>
  (await q('SELECT kvalreg_person_id_by_hash($1) AS id', [ninHash(t.platform.keys, number)]))[0].id;
const storedPerson = async (episode: string): Promise<number | null> =>
  (await q('SELECT person_id FROM npr_episode WHERE episode_id = $1', [episode]))[0]?.person_id ?? null;
/** Every episode's stored person is the one its number names now. */
const expectCurrent = async () =>
  expect(
    await q('SELECT episode_id, person_id FROM npr_episode WHERE person_id IS DISTINCT FROM kvalreg_person_id_by_hash(nin_hash)'),
  ).toEqual([]);
const sus = async (year = 2024): Promise<CoverageRow> => {
  await t.platform.analytics.refresh();
  const rows = await t.platform.quality.computeCoverage(t.platform.registry('fracture')!);
  return rows.find((r) => r.unit === SUS_HOSPITAL && r.year === year)!;
};
const worklist = async (year = 2024) =>
  (
    await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/npr-worklist?unit=${SUS_HOSPITAL}&year=${year}`,
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    })
  )
    .json()
    .episodes.map((e: any) => e.episodeId);
const counts = (r: CoverageRow) => ({
  bothNpr: r.bothNpr,
  onlyNpr: r.onlyNpr,
  bothRegistry: r.bothRegistry,
  onlyRegistry: r.onlyRegistry,
  reserved: r.reserved,
});

beforeAll(async () => {
  t = await testPlatform();
  // X's and Y's fractures match their episodes; Z's has none; the FH patient's waits for an identity
  // number (the fracture register requires one) and is not in the statistics yet.
  await capture(ehrBundle(at2024(P.X, '2024-03-01')));
  await capture(ehrBundle(at2024(P.Y, '2024-03-20')));
  await capture(ehrBundle(at2024(P.Z, '2024-09-01')));
  await capture(ehrBundle(at2024(FH, '2024-05-01', { ninSystem: FHN })));
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/registries/fracture/npr-extracts?source=test',
    headers: { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'text/csv' },
    payload: EXTRACT_2024,
  });
  expect(res.statusCode, res.body).toBe(201);
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('the person stored on each NPR episode', () => {
  it('is filled at import: the numbers the platform knows, none for the others', async () => {
    expect(await storedPerson('x1')).toBe(await personOf(P.X));
    expect(await storedPerson('y1')).toBe(await personOf(P.Y));
    expect(await storedPerson('a1')).toBeNull();
    expect(await storedPerson('r1')).toBeNull();
    await expectCurrent();
    // SUS 2024: x1, y1 in both; a1, r1 only in NPR; Z's case only in the registry.
    expect(counts(await sus())).toEqual({ bothNpr: 2, onlyNpr: 2, bothRegistry: 2, onlyRegistry: 1, reserved: 0 });
    expect(await worklist()).toEqual(['a1', 'r1']);
  });

  it('links an episode that arrived before its patient was captured, once the hospital registers the fracture', async () => {
    await capture(ehrBundle(at2024(P.A, '2024-02-01')));
    expect(await storedPerson('a1')).toBe(await personOf(P.A));
    await expectCurrent();
    expect(counts(await sus())).toEqual({ bothNpr: 3, onlyNpr: 1, bothRegistry: 3, onlyRegistry: 1, reserved: 0 });
    expect(await worklist()).toEqual(['r1']);
  });

  it('links the episode of a patient re-identified from an FH-number to the real number', async () => {
    const again = at2024(P.R, '2024-05-01');
    const bundle = ehrBundle(again);
    bundle.entry[0].resource.identifier = [{ system: FNR, value: P.R }];
    bundle.entry[0].resource.link = [{ type: 'replaces', other: { identifier: { system: FHN, value: FH } } }];
    await capture({ ...bundle, entry: [bundle.entry[0]] });
    const real = await personOf(P.R);
    expect(real).not.toBeNull();
    expect(await personOf(FH)).toBe(real);
    expect(await storedPerson('r1')).toBe(real);
    await expectCurrent();
    // The FH patient's case counts now, as the real number's, and links with r1.
    expect(counts(await sus())).toEqual({ bothNpr: 4, onlyNpr: 0, bothRegistry: 4, onlyRegistry: 1, reserved: 0 });
    expect(await worklist()).toEqual([]);
  });

  it('follows merges: X into Y, then Y into Z (the earlier merge moved along); the links stay', async () => {
    const [x, y, z] = [await personOf(P.X), await personOf(P.Y), await personOf(P.Z)];
    let res = await api('/api/persons/merge', { from: { system: FNR, value: P.X }, into: { system: FNR, value: P.Y } });
    expect(res.statusCode, res.body).toBe(200);
    expect(await storedPerson('x1')).toBe(y);
    expect(await q('SELECT 1 FROM person WHERE id = $1', [x])).toEqual([]);
    await expectCurrent();
    expect(counts(await sus())).toEqual({ bothNpr: 4, onlyNpr: 0, bothRegistry: 4, onlyRegistry: 1, reserved: 0 });

    res = await api('/api/persons/merge', { from: { system: FNR, value: P.Y }, into: { system: FNR, value: P.Z } });
    expect(res.statusCode, res.body).toBe(200);
    expect(await storedPerson('x1')).toBe(z);
    expect(await storedPerson('y1')).toBe(z);
    await expectCurrent();
    expect(counts(await sus())).toEqual({ bothNpr: 4, onlyNpr: 0, bothRegistry: 4, onlyRegistry: 1, reserved: 0 });
  });

  it('removes and counts the episodes under every number of a patient who opts out', async () => {
    const res = await api('/api/reservations', { value: P.Z });
    expect(res.statusCode, res.body).toBe(201);
    expect((await q("SELECT episode_id FROM npr_episode WHERE episode_id IN ('x1', 'y1')")).length).toBe(0);
    await expectCurrent();
    // x1 and y1 counted as reserved; Z's three cases (X's, Y's, Z's own) gone with Z.
    expect(counts(await sus())).toEqual({ bothNpr: 2, onlyNpr: 0, bothRegistry: 2, onlyRegistry: 0, reserved: 2 });
  });

  it('links an episode whose person was created by a transaction running beside the import', async () => {
    // A capture that creates C's person, still open while the 2023 extract is imported: neither sees
    // the other's rows. The import's last step waits for it to commit, then looks C up again.
    const beside = await t.platform.db.pool.connect();
    try {
      await beside.query('BEGIN');
      const parsed = parseNin(P.C);
      if (!parsed.ok) throw new Error(parsed.message);
      const {
        rows: [created],
      } = await beside.query('INSERT INTO person (nin_hash, nin_enc, nin_kind) VALUES ($1, $2, $3) RETURNING id', [
        ninHash(t.platform.keys, P.C),
        encryptNin(t.platform.keys, P.C),
        parsed.kind,
      ]);
      const importing = t.app.inject({
        method: 'POST',
        url: '/api/registries/fracture/npr-extracts?source=test-2023',
        headers: { authorization: `Bearer ${t.tokens.admin}`, 'content-type': 'text/csv' },
        payload: [HEADER, `c1;${P.C};${SUS_HOSPITAL};2023-06-01;2023-06-01;outpatient;S52.5;`].join('\n'),
      });
      let done = false;
      void importing.then(() => (done = true));
      // Wait until the import has committed its episodes and waits for the person table (or, on
      // code that does not look again, has finished without C's person).
      for (let i = 0; !done; i++) {
        const waiting = await q(
          "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'person' AND l.mode = 'ShareLock' AND NOT l.granted",
        );
        if (waiting.length) break;
        if (i > 1200) throw new Error('the import neither finished nor waited for the person table');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await storedPerson('c1')).toBeNull(); // committed by the import, without C's person
      await beside.query('COMMIT');
      const res = await importing;
      expect(res.statusCode, res.body).toBe(201);
      expect(await storedPerson('c1')).toBe(Number(created.id));
    } finally {
      beside.release();
    }
    await expectCurrent();
    // The hospital registers C's fracture: the person exists already (no new person, no trigger), and links.
    await capture(ehrBundle(at2024(P.C, '2023-06-01')));
    expect(counts(await sus(2023))).toEqual({ bothNpr: 1, onlyNpr: 0, bothRegistry: 1, onlyRegistry: 0, reserved: 0 });
  });

  it('is made good before the worklist or the linkage reads it, after a stop between an import and its look-up', async () => {
    // The state a kill -9 leaves between the import's commit and the look-up after it: the episode
    // stored without the person a capture created beside the import, and the extract not checked.
    await q("UPDATE npr_episode SET person_id = NULL WHERE episode_id = 'c1'");
    await q("UPDATE npr_extract SET persons_checked = false WHERE source = 'test-2023'");
    expect(await worklist(2023)).toEqual([]); // not listed as missing from the registry
    expect(await storedPerson('c1')).toBe(await personOf(P.C));
    expect((await q("SELECT persons_checked FROM npr_extract WHERE source = 'test-2023'"))[0].persons_checked).toBe(true);
    await q("UPDATE npr_episode SET person_id = NULL WHERE episode_id = 'c1'");
    await q("UPDATE npr_extract SET persons_checked = false WHERE source = 'test-2023'");
    expect(counts(await sus(2023))).toEqual({ bothNpr: 1, onlyNpr: 0, bothRegistry: 1, onlyRegistry: 0, reserved: 0 });
    await expectCurrent();
  });
});
