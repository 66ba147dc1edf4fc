// A patient who opts out before they were ever registered: raw messages naming them that were
// never processed (still waiting, or quarantined, even unreadable) are found by the keyed hashes
// stored when each message was received, and their bodies removed; other messages stay.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;
const post = async (body: string) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: body,
  });
  return { status: res.statusCode, message: Number(res.headers['x-kvalreg-message']) };
};
const message = async (id: number) =>
  (
    await q(
      'SELECT status, body_enc IS NULL AS gone, outcome IS NULL AS no_outcome, pruned_reason, nin_hashes FROM inbox_message WHERE id = $1',
      [id],
    )
  )[0];

it('keeps the keyed hashes of the numbers a message names from the moment it is received, never the numbers', async () => {
  const f = fracture({ nin: nin('1971-07-07', 'female') });
  const { message: id } = await post(JSON.stringify(ehrBundle(f)));
  const m = await message(id);
  expect(m.nin_hashes.map((h: Buffer) => h.toString('hex'))).toContain(ninHash(t.platform.keys, f.nin).toString('hex'));
  expect((await q("SELECT count(*)::int AS n FROM inbox_message WHERE nin_hashes::text LIKE '%' || $1 || '%'", [f.nin]))[0].n).toBe(0);
});

it('lets a patient who was never registered opt out from innsyn, removing quarantined and unreadable messages about them', async () => {
  const f = fracture({ nin: nin('1958-08-08', 'male'), aoCode: '23D9' }); // an unknown AO code: quarantined, no person created
  const quarantined = await post(JSON.stringify(ehrBundle(f)));
  expect(quarantined.status).toBe(422);
  const unreadable = await post(`{"resourceType": "Bundle", "entry": [ {"note": "pasient ${f.nin}" `); // not even JSON
  expect(unreadable.status).toBeGreaterThanOrEqual(400);
  const other = await post(JSON.stringify(ehrBundle(fracture({ nin: nin('1958-08-09', 'female'), aoCode: '23D9' }))));
  expect((await q('SELECT count(*)::int AS n FROM person'))[0].n).toBe(1); // only the first test's patient
  for (const id of [quarantined.message, unreadable.message]) expect((await message(id)).status).toBe('quarantined');

  const hash = ninHash(t.platform.keys, f.nin);
  const patient = await createToken(t.platform.db.pool, {
    name: 'unregistered',
    kind: 'user',
    grants: [{ registry: '*', role: 'patient', unit: '1' }],
    personHash: hash,
  });
  const res = await t.app.inject({ method: 'POST', url: '/api/innsyn/reservation', headers: { authorization: `Bearer ${patient}` } });
  expect(res.statusCode).toBe(201);
  expect(res.json()).toMatchObject({ reserved: true, removedPerson: false, removedMessages: 2 });
  for (const id of [quarantined.message, unreadable.message]) {
    expect(await message(id)).toMatchObject({ status: 'refused', gone: true, no_outcome: true, pruned_reason: 'reservation' });
    expect((await message(id)).nin_hashes.map((h: Buffer) => h.toString('hex'))).not.toContain(hash.toString('hex'));
  }
  expect(await message(other.message)).toMatchObject({ status: 'quarantined', gone: false });
  // Reprocessing cannot bring it back.
  const again = await t.app.inject({
    method: 'POST',
    url: `/api/inbox/${quarantined.message}/reprocess`,
    headers: { authorization: `Bearer ${t.tokens.admin}` },
  });
  expect(again.statusCode).toBe(410);
  expect(JSON.stringify(again.json())).toMatch(/opted out/);
  expect((await message(quarantined.message)).status).toBe('refused');
});

it('removes a message still waiting to be processed, so recovery never captures it', async () => {
  const f = fracture({ nin: nin('1949-09-09', 'female') });
  const id = await t.platform.inbox.receive({ kind: 'system', sender: 'sus-dips', name: 'x' }, 'fhir', JSON.stringify(ehrBundle(f)));
  expect((await message(id)).status).toBe('received');
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/reservations',
    headers: { authorization: `Bearer ${t.tokens.admin}` },
    payload: { value: f.nin },
  });
  expect(res.statusCode).toBe(201);
  expect(res.json()).toMatchObject({ removedPerson: false, removedMessages: 1 });
  expect(await message(id)).toMatchObject({ status: 'refused', gone: true });
  expect(await t.platform.inbox.recover()).toBe(0);
  expect((await q('SELECT count(*)::int AS n FROM person WHERE nin_hash = $1', [ninHash(t.platform.keys, f.nin)]))[0].n).toBe(0);
});
