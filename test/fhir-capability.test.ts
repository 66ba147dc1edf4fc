// The CapabilityStatement tells the truth: every interaction it lists is posted to and does what it
// promises, and every interaction it does not list answers with an OperationOutcome. It is made
// from the route table, so a FHIR route added elsewhere (a Questionnaire search) appears by itself.
// Extensions resolve to StructureDefinitions the platform serves; canonical URLs come from
// KVALREG_PUBLIC_URL whatever host the request names.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityStatement } from '../src/server/capability.ts';
import { validateResource } from '../src/fhir/schema.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const PUBLIC_URL = 'https://kvalreg.example.no';
let t: TestPlatform;
let statement: any;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_PUBLIC_URL: PUBLIC_URL });
  await post('/fhir', ehrBundle(fracture()));
  statement = (await t.app.inject({ method: 'GET', url: '/fhir/metadata' })).json();
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
const request = (method: string, url: string) =>
  t.app.inject({
    method: method as any,
    url,
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    ...(method === 'GET' || method === 'DELETE' ? {} : { payload: '{}' }),
  });

/** One valid resource of each type taken in Bundles, from the documented examples. */
function examples(): Record<string, any> {
  const out: Record<string, any> = {};
  for (const f of ['fracture-transaction.json', 'operation-transaction.json']) {
    for (const e of JSON.parse(fs.readFileSync(`docs/examples/${f}`, 'utf8')).entry) out[e.resource.resourceType] ??= e.resource;
  }
  out.QuestionnaireResponse = {
    resourceType: 'QuestionnaireResponse',
    identifier: { system: 'urn:oid:2.999.3.1', value: 'qr-1' },
    status: 'completed',
    questionnaire: 'http://example.org/Questionnaire/eq5d5l',
    item: [{ linkId: 'mobility', answer: [{ valueCoding: { code: '1' } }] }],
  };
  return out;
}

describe('what the CapabilityStatement lists does what it promises', () => {
  it('is made from the routes: no create or update on types taken in Bundles, Measure and MeasureReport there, $validate per type', () => {
    const rest = statement.rest[0];
    expect(rest.interaction.map((i: any) => i.code).sort()).toEqual(['batch', 'transaction']);
    expect(rest.operation ?? []).toEqual([]); // $validate is not a system-level operation
    const byType = Object.fromEntries(rest.resource.map((r: any) => [r.type, r]));
    for (const type of [
      'Patient',
      'Encounter',
      'Condition',
      'Procedure',
      'Observation',
      'MedicationAdministration',
      'QuestionnaireResponse',
      'Bundle',
    ]) {
      expect(
        byType[type]?.operation?.map((o: any) => o.name),
        type,
      ).toEqual(['validate']);
      expect(byType[type].interaction ?? [], type).toEqual([]);
    }
    expect(byType.Patient.supportedProfile).toEqual(['http://hl7.no/fhir/StructureDefinition/no-basis-Patient']);
    expect(byType.Measure.interaction.map((i: any) => i.code).sort()).toEqual(['read', 'search-type']);
    expect(byType.MeasureReport.interaction.map((i: any) => i.code)).toEqual(['search-type']);
    expect(byType.MeasureReport.searchParam.map((p: any) => p.name)).toEqual(expect.arrayContaining(['measure', 'period', 'reporter']));
    expect(byType.StructureDefinition.interaction.map((i: any) => i.code).sort()).toEqual(['read', 'search-type']);
    expect(validateResource(statement)).toEqual([]);
  });

  it('every listed interaction, posted to, answers as promised', async () => {
    const rest = statement.rest[0];
    const ex = examples();
    let tried = 0;
    for (const code of rest.interaction.map((i: any) => i.code)) {
      const bundle = ehrBundle(fracture(), code);
      const res = await post('/fhir', bundle);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ resourceType: 'Bundle', type: `${code}-response` });
      expect(res.json().entry).toHaveLength(bundle.entry.length);
      tried += 1;
    }
    for (const r of rest.resource) {
      for (const { code } of r.interaction ?? []) {
        if (code === 'search-type') {
          const query = r.type === 'MeasureReport' ? `?measure=${encodeURIComponent(firstMeasureUrl)}&period=2024` : '';
          const res = await request('GET', `/fhir/${r.type}${query}`);
          expect(res.statusCode, `${r.type} search: ${res.body}`).toBe(200);
          expect(res.json()).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
          for (const e of res.json().entry) expect(e.resource.resourceType).toBe(r.type);
        } else if (code === 'read') {
          const first = (await request('GET', `/fhir/${r.type}`)).json().entry[0].resource;
          const res = await request('GET', `/fhir/${r.type}/${first.id}`);
          expect(res.statusCode, `${r.type} read`).toBe(200);
          expect(res.json()).toMatchObject({ resourceType: r.type, id: first.id });
        } else {
          throw new Error(`the statement lists ${code} on ${r.type}, which this test does not know how to try`);
        }
        tried += 1;
      }
      for (const { name } of r.operation ?? []) {
        expect(name).toBe('validate');
        const valid = r.type === 'Bundle' ? ehrBundle(fracture()) : ex[r.type];
        expect(valid, `an example ${r.type}`).toBeDefined();
        const ok = await post(`/fhir/${r.type}/$validate`, valid);
        expect(ok.statusCode, `${r.type}/$validate: ${ok.body}`).toBe(200);
        expect(ok.json().resourceType).toBe('OperationOutcome');
        expect(
          ok.json().issue.filter((i: any) => i.severity === 'error'),
          `${r.type}/$validate of a valid one`,
        ).toEqual([]);
        // Findings are answered with 200 too, and say where.
        const broken = { ...valid, unknownElement: true };
        const bad = await post(`/fhir/${r.type}/$validate`, broken);
        expect(bad.statusCode).toBe(200);
        expect(bad.json().issue).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ severity: 'error', expression: [`${r.type === 'Bundle' ? 'Bundle' : r.type}.unknownElement`] }),
          ]),
        );
        tried += 1;
      }
    }
    expect(tried).toBeGreaterThan(12);
  });

  let firstMeasureUrl = '';
  beforeAll(async () => {
    firstMeasureUrl = (await request('GET', '/fhir/Measure')).json().entry[0].resource.url;
  });

  it("$validate checks base FHIR and the platform's rules, as a FHIR server answers", async () => {
    const obs = await post('/fhir/Observation/$validate', {
      resourceType: 'Observation',
      identifier: [{ system: 'urn:oid:2.999.1.4', value: '1' }],
      code: { text: 'x' },
    });
    expect(obs.statusCode).toBe(200);
    expect(obs.json().issue).toEqual([
      expect.objectContaining({ severity: 'error', code: 'required', expression: ['Observation.status'] }),
    ]);
    const patient = await post('/fhir/Patient/$validate', {
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'resource',
          resource: { resourceType: 'Patient', identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: '01017012345' }] },
        },
        { name: 'profile', valueCanonical: 'http://hl7.no/fhir/StructureDefinition/no-basis-Patient' },
      ],
    });
    expect(patient.statusCode).toBe(200);
    expect(JSON.stringify(patient.json())).toMatch(/nin:/);
    const unknownProfile = await post('/fhir/Patient/$validate', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: { resourceType: 'Patient' } },
        { name: 'profile', valueCanonical: 'http://example.org/StructureDefinition/x' },
      ],
    });
    expect(unknownProfile.statusCode).toBe(400); // FHIR: a profile the server cannot validate against SHALL be an error
    expect(unknownProfile.json().issue[0].code).toBe('not-supported');
    const wrongType = await post('/fhir/Condition/$validate', { resourceType: 'Observation' });
    expect(wrongType.statusCode).toBe(400);
    const notJson = await post('/fhir/Condition/$validate', '{"resourceType": ');
    expect(notJson.statusCode).toBe(400);
    expect(notJson.json().resourceType).toBe('OperationOutcome');
  });
});

describe('what it does not list answers with an OperationOutcome', () => {
  it('every interaction left out, on every type it names and on types it does not', async () => {
    const rest = statement.rest[0];
    const all: Array<[string, string, string]> = [
      // method, path, interaction
      ['GET', '', 'search-type'],
      ['POST', '', 'create'],
      ['GET', '/some-id', 'read'],
      ['PUT', '/some-id', 'update'],
      ['PATCH', '/some-id', 'patch'],
      ['DELETE', '/some-id', 'delete'],
      ['GET', '/some-id/_history', 'history-instance'],
      ['GET', '/_history', 'history-type'],
    ];
    let tried = 0;
    for (const type of [...rest.resource.map((r: any) => r.type), 'Organization', 'Practitioner']) {
      const declared = new Set((rest.resource.find((r: any) => r.type === type)?.interaction ?? []).map((i: any) => i.code));
      for (const [method, suffix, code] of all) {
        if (declared.has(code)) continue;
        const res = await request(method, `/fhir/${type}${suffix}`);
        expect(res.statusCode, `${method} /fhir/${type}${suffix}`).toBeGreaterThanOrEqual(400);
        expect(res.json().resourceType, `${method} /fhir/${type}${suffix}: ${res.body}`).toBe('OperationOutcome');
        tried += 1;
      }
    }
    for (const [method, url] of [
      ['POST', '/fhir/$validate'],
      ['GET', '/fhir/_history'],
      ['DELETE', '/fhir'],
      ['PUT', '/fhir'],
      ['GET', '/fhir/$everything'],
    ]) {
      const res = await request(method, url);
      expect(res.statusCode, `${method} ${url}`).toBeGreaterThanOrEqual(400);
      expect(res.json().resourceType, `${method} ${url}`).toBe('OperationOutcome');
      tried += 1;
    }
    expect(tried).toBeGreaterThan(60);
  });
});

describe('extensions and canonical URLs', () => {
  it('every extension the platform emits resolves to a StructureDefinition it serves', async () => {
    const emitted = new Set<string>();
    const collect = (node: any) => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object') {
        if (Array.isArray(node.extension)) for (const e of node.extension) if (String(e.url).includes('/')) emitted.add(e.url);
        Object.values(node).forEach(collect);
      }
    };
    const measures = (await request('GET', '/fhir/Measure')).json();
    collect(measures);
    for (const e of measures.entry)
      collect((await request('GET', `/fhir/MeasureReport?measure=${e.resource.id}&period=2024&reporter=8201101`)).json());
    expect(emitted.size).toBeGreaterThan(5);
    for (const url of emitted) {
      expect(url.startsWith(`${PUBLIC_URL}/fhir/StructureDefinition/`), url).toBe(true);
      const res = await request('GET', url.slice(PUBLIC_URL.length));
      expect(res.statusCode, url).toBe(200);
      expect(res.json()).toMatchObject({ resourceType: 'StructureDefinition', url, type: 'Extension', derivation: 'constraint' });
      expect(validateResource(res.json()), url).toEqual([]);
    }
    const all = (await request('GET', '/fhir/StructureDefinition')).json();
    expect(validateResource(all)).toEqual([]);
  });

  it('takes canonical URLs from KVALREG_PUBLIC_URL, never from the request', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/fhir/metadata',
      headers: { host: '10.0.0.7:3000', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'http' },
    });
    expect(res.json().implementation.url).toBe(`${PUBLIC_URL}/fhir`);
    const m = await t.app.inject({ method: 'GET', url: '/fhir/Measure', headers: { host: '10.0.0.7:3000' } });
    expect(JSON.stringify(m.json())).not.toMatch(/10\.0\.0\.7|localhost/);
  });

  it('lists FHIR routes added anywhere: a Questionnaire search appears by itself', () => {
    const routes = [
      { method: 'GET', url: '/fhir/Questionnaire', access: { public: true as const } },
      { method: 'GET', url: '/fhir/Questionnaire/:id', access: { public: true as const } },
      { method: 'GET', url: '/api/other', access: { public: true as const } },
    ];
    const cs = capabilityStatement({ base: `${PUBLIC_URL}/fhir`, version: '1', routes, acceptedInBundles: [], security: 'x' });
    expect(cs.rest![0].resource).toEqual([
      expect.objectContaining({ type: 'Questionnaire', interaction: [{ code: 'search-type' }, { code: 'read' }] }),
    ]);
  });
});
