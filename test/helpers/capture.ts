// A fracture sent as the patient record sends it (POST /fhir, the EHR's token), and the case and
// person it became: the first step of most tests that need a real case in the database.
import { expect } from 'vitest';
import { ehrBundle, type FractureSpec } from '../../registries/fracture/bundles.ts';
import { traumaBundle, type TraumaSpec } from '../../registries/trauma/bundles.ts';
import type { TestPlatform } from './platform.ts';

/** Sends the fracture's patient-record Bundle and expects it accepted. */
export async function sendFracture(t: TestPlatform, f: FractureSpec): Promise<void> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
}

/** Sends the trauma event's patient-record Bundle and expects it accepted; returns the answer. */
export async function sendTrauma(t: TestPlatform, s: TraumaSpec): Promise<{ statusCode: number; body: string }> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(traumaBundle(s)),
  });
  expect(res.statusCode, res.body).toBeLessThan(300);
  return res;
}

/** Sends the fracture and finds the case it became. */
export async function captureFracture(t: TestPlatform, f: FractureSpec): Promise<{ caseId: number; personId: number }> {
  await sendFracture(t, f);
  // Anchor keys end in the fixture's id (Condition|<system>.condition|<id>).
  const { rows } = await t.platform.db.pool.query('SELECT id, person_id FROM registry_case WHERE registry = $1 AND anchor_key LIKE $2', [
    'fracture',
    `%|${f.id}`,
  ]);
  expect(rows, `no case for fracture ${f.id}`).toHaveLength(1);
  return { caseId: Number(rows[0].id), personId: Number(rows[0].person_id) };
}
