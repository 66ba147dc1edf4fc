// Round trips to the database per captured message (issue 15: capture near the machine's limit).
// A message is read in one round trip (its locks, everything the pipeline decides on, and what the
// PROM module's hook needs: migrations 110 and 120) and written with the commit; the hook reads
// nothing more for a message without a PROM answer. Counted the way bench/capture.ts counts them:
// every query any client of this process sends is one round trip.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

/** Posts a Bundle and counts the statements this process sends to PostgreSQL meanwhile. */
async function roundTripsOf(body: unknown): Promise<{ status: number; roundTrips: string[] }> {
  const original = pg.Client.prototype.query;
  const sent: string[] = [];
  (pg.Client.prototype as any).query = function (this: pg.Client, ...args: any[]) {
    const text = typeof args[0] === 'string' ? args[0] : args[0]?.text;
    sent.push(String(text).replace(/\s+/g, ' ').slice(0, 80));
    return (original as any).apply(this, args);
  };
  try {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(body),
    });
    return { status: res.statusCode, roundTrips: sent };
  } finally {
    pg.Client.prototype.query = original;
  }
}

describe('round trips per captured message', () => {
  it('takes three for a message without a PROM answer: the sender check, the read, and the write with the commit', async () => {
    // The first message of a sender warms what is cached per process (the token, prepared statements).
    expect((await roundTripsOf(ehrBundle(fracture()))).status).toBe(200);
    for (const f of [fracture(), fracture({ open: true, smoker: true })]) {
      const { status, roundTrips } = await roundTripsOf(ehrBundle(f));
      expect(status).toBe(200);
      expect(roundTrips, roundTrips.join('\n')).toHaveLength(3);
    }
    // A resend changes nothing and costs the same.
    const f = fracture();
    await roundTripsOf(ehrBundle(f));
    const again = await roundTripsOf(ehrBundle(f));
    expect(again.roundTrips, again.roundTrips.join('\n')).toHaveLength(3);
  });
});
