// Input the database cannot store, repeated query parameters and wrong content types get a 4xx
// that names what was wrong — never a 500, and never a message quarantined as an internal error
// that tells the sender it need not resend. The checks are run against every route in the route
// table, so a route added later is covered without anyone remembering to add it here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import type { RouteEntry } from '../src/server/access-policy.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let patientToken: string;
let researcherToken: string;
let platformAdminToken: string;
let caseId: number;
let messageId: number;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_RATE_LIMIT: '0', KVALREG_ANONYMOUS_RATE_LIMIT: '0', KVALREG_LOGIN_RATE_LIMIT: '0' });
  const res = await post(JSON.stringify(ehrBundle(fracture())));
  messageId = Number(res.headers['x-kvalreg-message']);
  caseId = (await t.platform.db.pool.query('SELECT id FROM registry_case')).rows[0].id;
  researcherToken = await createToken(t.platform.db.pool, {
    name: 'researcher',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'researcher', unit: '1' }],
  });
  platformAdminToken = await createToken(t.platform.db.pool, {
    name: 'platform-admin',
    kind: 'user',
    grants: [{ registry: '*', role: 'platform-admin', unit: '1' }],
  });
  patientToken = await createToken(t.platform.db.pool, {
    name: 'patient',
    kind: 'user',
    grants: [{ registry: '*', role: 'patient', unit: '1' }],
    personHash: ninHash(t.platform.keys, nin('1990-02-02', 'male')),
  });
});
afterAll(async () => {
  await t?.close();
});

/** `contentType: null` sends none. */
const post = (payload: string, url = '/fhir', contentType: string | null = 'application/fhir+json') =>
  t.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${t.tokens.ehr}`, ...(contentType !== null ? { 'content-type': contentType } : {}) },
    payload,
  });
const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;

/** A caller the route's policy lets through, so that the check under test is what answers. */
function tokenFor(route: RouteEntry): string | undefined {
  if ('public' in route.access) return undefined;
  if (route.access.callers.includes('system')) return t.tokens.ehr;
  if (route.access.callers.includes('registry-admin')) return t.tokens.admin;
  if (route.access.callers.includes('unit-registrar')) return t.tokens.registrarSus;
  if (route.access.callers.includes('researcher')) return researcherToken;
  if (route.access.callers.includes('platform-admin')) return platformAdminToken;
  return patientToken;
}
const fill = (url: string) =>
  url
    .replace(':id', url.endsWith('/screening') ? 'trauma' : 'fracture')
    .replace(':caseId', String(caseId))
    .replace(':form', 'behandling')
    .replace(':instance', 'x')
    .replace(':messageId', String(messageId))
    .replace(':indicator', 'nfr01_time_to_treatment')
    .replace(':measureId', 'fracture-nfr01_time_to_treatment')
    .replace(':figure', 'ao-prefix-by-sex')
    .replace(':table', 'indicator-results.csv')
    .replace(':year', '2024.pdf')
    .replace(':unit', '8201101.pdf')
    .replace(':subscriptionId', '999999')
    .replace(':resh', '8201100')
    .replace(':deliveryId', '1');
const contentTypeOf = (url: string) =>
  url.startsWith('/fhir')
    ? 'application/fhir+json'
    : url.endsWith('/screening')
      ? 'text/csv'
      : url === '/api/unsubscribe'
        ? 'application/x-www-form-urlencoded'
        : 'application/json';
const bodyOf = (route: RouteEntry) =>
  route.url.startsWith('/fhir')
    ? JSON.stringify(ehrBundle(fracture()))
    : route.url.endsWith('/screening')
      ? 'admission_id;national_id\n'
      : route.url === '/api/unsubscribe'
        ? 'token=x'
        : '{}';

function call(route: RouteEntry, query: string, payload?: string) {
  const token = tokenFor(route);
  const withBody = route.method !== 'GET' && route.method !== 'DELETE';
  return t.app.inject({
    method: route.method as 'GET',
    url: `${fill(route.url)}${query}`,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(withBody ? { 'content-type': contentTypeOf(route.url) } : {}) },
    payload: withBody ? (payload ?? bodyOf(route)) : undefined,
  });
}

/** The problem a 400 names: the OperationOutcome's issue on FHIR routes, the JSON error elsewhere. */
function named(res: { json(): any }, fhir: boolean): { message: string; location: string | undefined } {
  const body = res.json();
  return fhir
    ? { message: body.issue?.[0]?.diagnostics ?? '', location: body.issue?.[0]?.expression?.[0] }
    : { message: body.error ?? '', location: body.location };
}

describe('every route in the route table', () => {
  it('has routes to check, query-taking ones among them', () => {
    const urls = t.app.routeTable.map((r) => `${r.method} ${r.url}`);
    expect(urls.length).toBeGreaterThan(40);
    expect(urls).toEqual(
      expect.arrayContaining([
        'GET /api/registries/:id/indicator-results',
        'GET /api/registries/:id/statistics',
        'GET /fhir/MeasureReport',
        'GET /auth/login',
      ]),
    );
  });

  it('refuses a repeated query parameter with a 400 that names it', async () => {
    // Names the routes read (unit, year, period, …): each given twice. A route reading any of them
    // used to get an array where it expected a string.
    const names = [
      'unit',
      'year',
      'period',
      'years',
      'lang',
      'format',
      'dataset',
      'level',
      'status',
      'limit',
      'offset',
      'returnTo',
      'token',
      'action',
      'subject',
    ];
    const query = `?${names.flatMap((n) => [`${n}=1`, `${n}=2`]).join('&')}`;
    const failures: string[] = [];
    for (const route of t.app.routeTable) {
      const res = await call(route, query);
      const fhir = route.url.startsWith('/fhir');
      const { message, location } = res.statusCode === 400 ? named(res, fhir) : { message: '', location: '' };
      if (res.statusCode !== 400 || !/is given 2 times; give each query parameter once/.test(message) || !location?.startsWith('query.')) {
        failures.push(`${route.method} ${route.url}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
      if (fhir && res.headers['content-type']?.toString().startsWith('application/fhir+json') !== true)
        failures.push(`${route.method} ${route.url}: not an OperationOutcome`);
    }
    expect(failures).toEqual([]);
  });

  it('refuses the repeated parameters the tester sent, one at a time, naming them', async () => {
    for (const url of [
      '/api/registries/fracture/indicator-results?unit=a&unit=b',
      '/api/registries/fracture/statistics?unit=a&unit=b',
      '/fhir/MeasureReport?unit=a&unit=b',
      '/auth/login?returnTo=/a&returnTo=/b',
    ]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
      expect(url.startsWith('/fhir') ? res.json().issue[0].diagnostics : res.json().error, url).toMatch(
        /"(unit|returnTo)" is given 2 times/,
      );
    }
  });

  it('refuses a NUL character in a query parameter or a path parameter with a 400, never a 500', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable) {
      const res = await call(route, '?unit=%00&year=%00&lang=%00&status=%00&returnTo=%00');
      if (res.statusCode !== 400 || !/NUL character/.test(res.body))
        failures.push(`${route.method} ${route.url} (query): ${res.statusCode} ${res.body.slice(0, 160)}`);
      if (route.url.includes('/:')) {
        const inPath = await t.app.inject({
          method: route.method as 'GET',
          url: fill(route.url.replace(/:[A-Za-z]+/, 'a%00b')),
          headers: tokenFor(route) ? { authorization: `Bearer ${tokenFor(route)}` } : {},
        });
        if (inPath.statusCode !== 400 || !/NUL character/.test(inPath.body))
          failures.push(`${route.method} ${route.url} (path): ${inPath.statusCode} ${inPath.body.slice(0, 160)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('refuses an identity number in the URL — query or path — with a 400, before anything records it', async () => {
    const number = nin('1985-12-24', 'male');
    const failures: string[] = [];
    const before = (await q('SELECT count(*)::int AS n FROM audit_event'))[0].n;
    for (const route of t.app.routeTable) {
      const inQuery = await call(route, `?unit=${number}`);
      if (inQuery.statusCode !== 400 || !/Never put an identity number in a URL/.test(inQuery.body) || inQuery.body.includes(number))
        failures.push(`${route.method} ${route.url} (query): ${inQuery.statusCode} ${inQuery.body.slice(0, 160)}`);
      if (route.url.includes('/:')) {
        // As a caller the route refuses, too: a refused attempt is audited with its path.
        const inPath = await t.app.inject({
          method: route.method as 'GET',
          url: fill(route.url.replace(/:[A-Za-z]+/, `${number.slice(0, 6)}-${number.slice(6)}`)),
          headers: { authorization: `Bearer ${t.tokens.readerOther}` },
        });
        if (inPath.statusCode !== 400 || !/Never put an identity number in a URL/.test(inPath.body))
          failures.push(`${route.method} ${route.url} (path): ${inPath.statusCode} ${inPath.body.slice(0, 160)}`);
      }
    }
    expect(failures).toEqual([]);
    const after = await q('SELECT * FROM audit_event ORDER BY id OFFSET $1', [before]);
    expect(JSON.stringify(after)).not.toContain(number.slice(6));
  });

  it('refuses a lone surrogate or a NUL in any JSON body with a 400 naming the path', async () => {
    const failures: string[] = [];
    const bodies = [
      ['{"values": {"comment": "\\ud800"}, "name": "x"}', 'body.values.comment', /lone UTF-16 surrogate/],
      ['{"name": "a\\u0000b", "values": {}}', 'body.name', /NUL character/],
      ['{"values": {"\\udfff": 1}}', 'body.values', /property name/],
    ] as const;
    for (const route of t.app.routeTable.filter(
      (r) => r.method !== 'GET' && r.method !== 'DELETE' && !r.url.startsWith('/fhir') && contentTypeOf(r.url) === 'application/json',
    )) {
      for (const [payload, location, message] of bodies) {
        const res = await call(route, '', payload);
        const got = res.statusCode === 400 ? named(res, false) : undefined;
        if (!got || got.location !== location || !message.test(got.message))
          failures.push(`${route.method} ${route.url} ${location}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('refuses a NUL in a CSV or form body with a 400', async () => {
    const failures: string[] = [];
    for (const route of t.app.routeTable.filter(
      (r) => r.method === 'POST' && ['text/csv', 'application/x-www-form-urlencoded'].includes(contentTypeOf(r.url)),
    )) {
      const res = await call(route, '', `${bodyOf(route)}\u0000`);
      if (res.statusCode !== 400 || !/NUL character/.test(res.body))
        failures.push(`${route.method} ${route.url}: ${res.statusCode} ${res.body.slice(0, 160)}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('a FHIR Bundle with text the database cannot store', () => {
  const withText = (text: string) => {
    const b = ehrBundle(fracture());
    // Written into the JSON as an escape, as a sender's serializer would (JSON.stringify writes a lone surrogate that way too).
    b.entry[2].resource.note = [{ text: 'TEXT' }];
    return JSON.stringify(b).replace('TEXT', text);
  };

  it.each([
    ['a lone high surrogate', 'before \\ud800 after', /lone UTF-16 surrogate/],
    ['a lone low surrogate', '\\udc00', /lone UTF-16 surrogate/],
    ['a NUL character', 'a\\u0000b', /NUL character/],
  ])("is refused with 400 and the element named, quarantined as the sender's error: %s", async (_name, text, message) => {
    const res = await post(withText(text));
    expect(res.statusCode).toBe(400);
    const outcome = res.json();
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].expression).toEqual(['Bundle.entry[2].resource.note[0].text']);
    expect(outcome.issue[0].diagnostics).toMatch(message);
    expect(outcome.issue[0].diagnostics).not.toMatch(/internal error|need not resend/);
    const stored = (await q('SELECT status, outcome FROM inbox_message WHERE id = $1', [Number(res.headers['x-kvalreg-message'])]))[0];
    expect(stored.status).toBe('quarantined');
    expect(stored.outcome.httpStatus).toBe(400);
    expect(JSON.stringify(stored.outcome)).not.toMatch(/internal error/);
    // The same answer from a dry run.
    // The same finding from a dry run, answered as FHIR's $validate does: 200 with the findings.
    const dry = await post(withText(text), '/fhir/Bundle/$validate');
    expect(dry.statusCode).toBe(200);
    expect(dry.json().issue[0].expression).toEqual(['Bundle.entry[2].resource.note[0].text']);
  });

  it('names a property name that holds a lone surrogate', async () => {
    const b = ehrBundle(fracture());
    const res = await post(JSON.stringify(b).replace('"recordedDate"', '"\\ud800recordedDate"'));
    expect(res.statusCode).toBe(400);
    expect(res.json().issue[0].expression).toEqual(['Bundle.entry[2].resource']);
    expect(res.json().issue[0].diagnostics).toMatch(/A property name in Bundle.entry\[2\].resource contains a lone UTF-16 surrogate/);
  });

  it("refuses an identifier or a reference too long for the index it becomes, as the sender's 400", async () => {
    // 1,024 characters of three-byte text: within a character limit, but 3,072 bytes in a key
    // PostgreSQL's btree holds at most about 2,700 bytes of — before, an internal error.
    let wide = '';
    for (let i = 0; i < 1024; i++) wide += String.fromCodePoint(0x4e00 + ((i * 7919) % 20000));
    const b = ehrBundle(fracture());
    b.entry[2].resource.identifier[0].value = wide;
    const res = await post(JSON.stringify(b));
    expect(res.statusCode).toBe(400);
    expect(res.json().issue[0]).toMatchObject({
      expression: ['Bundle.entry[2].resource.identifier'],
      diagnostics: expect.stringMatching(/at most 1024 bytes in UTF-8/),
    });
    const r = ehrBundle(fracture());
    r.entry[2].resource.evidence = [{ detail: [{ reference: `Observation?identifier=urn:x|${'x'.repeat(3000)}` }] }];
    const ref = await post(JSON.stringify(r));
    expect(ref.statusCode).toBe(400);
    expect(ref.json().issue[0]).toMatchObject({
      code: 'too-long',
      expression: ['Bundle.entry[2].resource.evidence[0].detail[0].reference'],
    });
  });

  it('still takes a surrogate pair (a real character, escaped)', async () => {
    const res = await post(withText('fell off a \\ud83d\\udeb2'));
    expect(res.statusCode).toBe(200);
    const stored = (await q("SELECT resource FROM source_resource WHERE resource_type = 'Condition' AND resource->'note' IS NOT NULL"))[0];
    expect(stored.resource.note[0].text).toBe('fell off a \u{1F6B2}');
  });
});

describe('content types on /fhir', () => {
  it.each([
    ['text/plain', 'text/plain'],
    ['no content type', null],
    ['XML', 'application/fhir+xml'],
    ['a form', 'application/x-www-form-urlencoded'],
    ['JSON in another character set', 'application/fhir+json; charset=iso-8859-1'],
  ])('refuses %s with 415 and stores nothing', async (_name, contentType) => {
    const before = (await q('SELECT count(*)::int AS n FROM inbox_message'))[0].n;
    for (const url of ['/fhir', '/fhir/Bundle/$validate', '/fhir/Observation/$validate']) {
      const res = await post(JSON.stringify(ehrBundle(fracture())), url, contentType);
      expect(res.statusCode, `${url} ${contentType}`).toBe(415);
      expect(res.json().resourceType).toBe('OperationOutcome');
      expect(res.json().issue[0].diagnostics).toMatch(/application\/fhir\+json/);
    }
    expect((await q('SELECT count(*)::int AS n FROM inbox_message'))[0].n).toBe(before);
  });

  it.each(['application/fhir+json', 'application/fhir+json; charset=utf-8', 'application/json', 'application/json;charset=UTF-8'])(
    'takes %s',
    async (contentType) => {
      expect((await post(JSON.stringify(ehrBundle(fracture())), '/fhir', contentType)).statusCode).toBe(200);
    },
  );
});
