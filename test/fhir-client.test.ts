// A FHIR client library written by others reads our CapabilityStatement and posts a transaction.
import { Client } from 'fhir-kit-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let base: string;
beforeAll(async () => {
  t = await testPlatform();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const a = t.app.server.address() as { port: number };
  base = `http://127.0.0.1:${a.port}/fhir`;
});
afterAll(async () => {
  await t?.close();
});

it('works with fhir-kit-client: capability statement and transaction', async () => {
  const client = new Client({ baseUrl: base, customHeaders: { Authorization: `Bearer ${t.tokens.ehr}` } });
  const cs: any = await client.capabilityStatement();
  expect(cs.resourceType).toBe('CapabilityStatement');
  expect(cs.fhirVersion).toBe('4.0.1');
  expect(cs.rest[0].interaction.map((i: any) => i.code)).toContain('transaction');
  const response: any = await client.transaction({ body: ehrBundle(fracture()) as any });
  expect(response.resourceType).toBe('Bundle');
  expect(response.type).toBe('transaction-response');
  expect(response.entry.every((e: any) => /^20[01]/.test(e.response.status))).toBe(true);
  // An error reaches the client as an OperationOutcome.
  const bad = ehrBundle(fracture({ aoCode: '23D9' }));
  const err: any = await client.transaction({ body: bad as any }).catch((e) => e);
  expect(err.response.status).toBe(422);
  expect(err.response.data.resourceType).toBe('OperationOutcome');
});
