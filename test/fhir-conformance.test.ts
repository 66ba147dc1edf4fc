// Everything the platform emits as FHIR, and every example in docs/, checked the way an integration
// engineer's own tools check it: HL7's FHIR R4 JSON schema (fhir.schema.json, compiled with ajv)
// and the elements FHIR R4's StructureDefinitions require (src/fhir/schema.ts). A resource that
// breaks either fails here with the element's path. The checker is itself checked: resources
// broken on purpose must fail it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateResource } from '../src/fhir/schema.ts';
import { taskFor } from '../src/prom/channels.ts';
import type { Issue } from '../src/capture/outcome.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_PUBLIC_URL: 'https://kvalreg.example.no' });
  for (let i = 0; i < 12; i++) await post('/fhir', ehrBundle(fracture({ injuryDateTime: '2024-03-01T10:00:00+01:00' })));
  await t.platform.analytics.refresh();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

function post(url: string, body: unknown, token = t.tokens.ehr) {
  return t.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const get = (url: string) => t.app.inject({ method: 'GET', url });

/** Every finding, errors and warnings alike: what the platform emits and documents must have none. */
function findings(resource: unknown): string[] {
  return validateResource(resource).map((i: Issue) => `${i.severity} ${i.location}: ${i.diagnostics}`);
}
function expectConforms(resource: unknown, what: string) {
  expect(findings(resource), `${what} does not conform to FHIR R4`).toEqual([]);
}

describe('what the platform emits conforms to FHIR R4', () => {
  it('the CapabilityStatement', async () => {
    const res = await get('/fhir/metadata');
    expect(res.statusCode).toBe(200);
    expectConforms(res.json(), 'GET /fhir/metadata');
  });

  it('every Measure, alone and in the searchset', async () => {
    const res = await get('/fhir/Measure');
    expect(res.statusCode).toBe(200);
    const bundle = res.json();
    expectConforms(bundle, 'GET /fhir/Measure');
    expect(bundle.entry.length).toBeGreaterThan(10);
    for (const e of bundle.entry) {
      const one = await get(`/fhir/Measure/${e.resource.id}`);
      expect(one.statusCode, e.resource.id).toBe(200);
      expectConforms(one.json(), `Measure ${e.resource.id}`);
      // Canonical URLs come from KVALREG_PUBLIC_URL, not from the request's host (inject's is localhost:80).
      expect(one.json().url).toBe(`https://kvalreg.example.no/fhir/Measure/${e.resource.id}`);
    }
  });

  it('MeasureReports: a result with counts, one withheld, one pending, with strata', async () => {
    const measures = (await get('/fhir/Measure')).json().entry.map((e: any) => e.resource);
    const reports: any[] = [];
    for (const m of measures) {
      for (const reporter of ['1', '8201101']) {
        const res = await get(`/fhir/MeasureReport?measure=${encodeURIComponent(m.url)}&period=2024&reporter=${reporter}`);
        expect(res.statusCode, `${m.id}: ${res.body}`).toBe(200);
        expectConforms(res.json(), `MeasureReport of ${m.id} for ${reporter}`);
        reports.push(res.json().entry[0].resource);
      }
    }
    expect(reports).toHaveLength(measures.length * 2);
    const statusOf = (r: any) => r.group[0].extension?.find((e: any) => e.url.endsWith('/indicator-result-status'))?.valueCode;
    expect(reports.some((r) => r.group[0].measureScore)).toBe(true);
    expect(reports.some((r) => statusOf(r) === 'definition-pending')).toBe(true);
    expect(reports.some((r) => statusOf(r) === 'too-few' || statusOf(r) === 'not-computable')).toBe(true);
    expect(reports.some((r) => r.group[0].stratifier.length > 0)).toBe(true);
  });

  it('transaction and batch responses, with and without findings', async () => {
    const tx = await post('/fhir', ehrBundle(fracture()));
    expect(tx.statusCode).toBe(200);
    expectConforms(tx.json(), 'transaction-response');
    const batch = await post('/fhir', { ...ehrBundle(fracture({ aoCode: '99Z9' }), 'batch') });
    expect(batch.statusCode).toBe(200);
    expect(batch.json().type).toBe('batch-response');
    expectConforms(batch.json(), 'batch-response with a rejected patient');
  });

  it('OperationOutcomes: refusals, rule findings, $validate', async () => {
    const answers = [
      await post('/fhir', ehrBundle(fracture({ aoCode: '23D9' }))), // a code not in the code list
      await post('/fhir', '{"resourceType": "Bundle", '), // not JSON
      await post('/fhir', ehrBundle(fracture()), 'not-a-token'), // 401
      await post('/fhir/Bundle/$validate', ehrBundle(fracture())), // a dry run that finds nothing
      await get('/fhir/Measure/no-such-measure'), // 404
    ];
    for (const res of answers) {
      expect(res.json().resourceType, res.body).toBe('OperationOutcome');
      expectConforms(res.json(), `OperationOutcome of a ${res.statusCode}`);
    }
  });

  it("the PROM instruments' Questionnaires, and the Task that invites a patient", () => {
    const dir = path.resolve('instruments');
    const files = fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'questionnaire.json')));
    expect(files.length).toBeGreaterThan(5);
    for (const d of files)
      expectConforms(JSON.parse(fs.readFileSync(path.join(dir, d, 'questionnaire.json'), 'utf8')), `instruments/${d}/questionnaire.json`);
    expectConforms(
      taskFor('12865700022', {
        invitationId: 7,
        deadline: '2025-03-01',
        questionnaires: ['http://example.org/Questionnaire/eq5d5l'],
      } as any),
      'PROM Task',
    );
  });
});

describe('the documented examples conform to FHIR R4', () => {
  const dir = path.resolve('docs/examples');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    it(file, () => expectConforms(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')), `docs/examples/${file}`));
  }
});

describe("the examples in the documentation's text", () => {
  const docs = [
    path.resolve('README.md'),
    ...fs
      .readdirSync(path.resolve('docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.resolve('docs', f)),
  ];
  const blocks = docs.flatMap((file) =>
    [...fs.readFileSync(file, 'utf8').matchAll(/```json\n([\s\S]*?)```/g)].map((m) => ({ file: path.basename(file), text: m[1] })),
  );

  it('every JSON block that is a whole resource conforms to FHIR R4', () => {
    const resources = blocks
      .map((b) => {
        try {
          return { ...b, json: JSON.parse(b.text) };
        } catch {
          return null;
        }
      })
      .filter((b) => b?.json?.resourceType);
    expect(resources.length).toBeGreaterThan(0);
    for (const r of resources) expectConforms(r!.json, `a ${r!.json.resourceType} in ${r!.file}`);
  });

  it('every urn:oid: is an OID and every urn:uuid: a UUID, in the text and in docs/examples', () => {
    // FHIR R4 Data Types (uri): "urn:oid:" is followed by an OID, "urn:uuid:" by a lower-case UUID.
    // Placeholders written as such ("urn:uuid:…", a bare "urn:uuid:" in prose) are not examples.
    const files = [...docs, ...fs.readdirSync(path.resolve('docs/examples')).map((f) => path.resolve('docs/examples', f))];
    let checked = 0;
    for (const file of files) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/urn:(oid|uuid):([^\s"'`)|,<>\]]*)/g)) {
        const value = m[2].replace(/#.*$/, '').replace(/[.:;]$/, '');
        if (value === '' || value === '…') continue;
        const ok =
          m[1] === 'oid'
            ? /^[0-2](\.(0|[1-9][0-9]*))+$/.test(value)
            : /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value);
        expect(ok, `${path.relative(process.cwd(), file)}: urn:${m[1]}:${m[2]}`).toBe(true);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(20);
  });
});

describe('the check fails what does not conform', () => {
  it('a Measure with "_" in its id and an empty usage, as the platform emitted them before', () => {
    const out = findings({ resourceType: 'Measure', id: 'fracture-nfr01_time_to_treatment', status: 'active', usage: '' });
    expect(out.join('\n')).toMatch(/error Measure\.id: Not a valid FHIR id/);
    expect(out.join('\n')).toMatch(/error Measure\.usage: Not a valid FHIR/);
  });
  it('an Observation without status (a primitive the schema alone cannot require)', () => {
    expect(findings({ resourceType: 'Observation', code: { text: 'x' } })).toEqual([
      expect.stringMatching(/^error Observation\.status: FHIR R4 requires "status"/),
    ]);
  });
  it('a misspelt element, a wrong code, a resource where a Reference belongs, inside a Bundle entry', () => {
    const out = findings({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:4b0c9a3e-0b8e-4f53-9a4e-2f1e8c1d7a10',
          request: { method: 'POST', url: 'Condition' },
          resource: {
            resourceType: 'Condition',
            subjekt: { reference: 'Patient/1' },
            clinicalStatus: { coding: [{ code: ' active' }] },
            encounter: { resourceType: 'Encounter' },
          },
        },
      ],
    }).join('\n');
    expect(out).toMatch(/Bundle\.entry\[0\]\.resource\.subjekt: "subjekt" is not an element/);
    expect(out).toMatch(/Bundle\.entry\[0\]\.resource\.clinicalStatus\.coding\[0\]\.code: Not a valid FHIR code/);
    expect(out).toMatch(/Bundle\.entry\[0\]\.resource\.subject: FHIR R4 requires "subject"/);
    expect(out).toMatch(/Bundle\.entry\[0\]\.resource\.encounter\.resourceType: "resourceType" is not an element/);
  });
  it('an invented OID and a label as a urn:uuid (warnings: FHIR says what they must be)', () => {
    const out = findings({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          fullUrl: 'urn:uuid:patient-1',
          request: { method: 'POST', url: 'Patient' },
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.999.1.patient', value: '1' }] },
        },
      ],
    }).join('\n');
    expect(out).toMatch(/warning Bundle\.entry\[0\]\.fullUrl: "urn:uuid:patient-1" is not a UUID/);
    expect(out).toMatch(
      /warning Bundle\.entry\[0\]\.resource\.identifier\[0\]\.system: "urn:oid:2\.16\.578\.1\.12\.4\.1\.999\.1\.patient" is not an OID/,
    );
  });
});
