// The API description (GET /api/openapi.json) is a valid OpenAPI 3.1 document, generated from the
// routes' own schemas: every route is in it with who may call it, real answers match the response
// schemas it documents, and the page that shows it (/api/docs) works from our own origin alone,
// under the API's Content-Security-Policy, in a real browser.
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, findChromium, NO_CHROMIUM_IN_CI } from './helpers/browser.ts';
import { freePort } from './helpers/login.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let doc: any;
beforeAll(async () => {
  t = await testPlatform({ KVALREG_RATE_LIMIT: '0', KVALREG_ANONYMOUS_RATE_LIMIT: '0' });
  const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
  expect(res.statusCode).toBe(200);
  doc = res.json();
});
afterAll(async () => {
  await t?.close();
});

/** The description's path for a route's URL: `/api/registries/:id` → `/api/registries/{id}`. */
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
// POST /fhir/ is POST /fhir with a slash, described once.
const HIDDEN = new Set(['GET /', 'GET /*', 'GET /assets/*', 'GET /api/docs', 'GET /api/docs/:file', 'POST /fhir/']);

describe('GET /api/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, by an OpenAPI validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(doc.openapi).toBe('3.1.0');
  });

  it('the validator does refuse a broken document (the check above can fail)', async () => {
    const broken = structuredClone(doc);
    broken.paths['/api/registries/{id}/indicators'].get.responses = 'none';
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });

  it('is public and describes every route of the route table but the web app’s files and the docs page', () => {
    const routes = t.app.routeTable.filter((r) => r.method !== 'HEAD' && !HIDDEN.has(`${r.method} ${r.url}`));
    const missing = routes.filter((r) => !doc.paths[openapiPath(r.url)]?.[r.method.toLowerCase()]).map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
    expect(doc.paths['/']).toBeUndefined();
    expect(doc.paths['/api/docs']).toBeUndefined();
  });

  it('says who may call each route: public routes need nothing, the others a bearer token, DPoP or a session', () => {
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['bearer', 'dpop', 'session']);
    expect(doc.components.securitySchemes.dpop).toMatchObject({ type: 'http', scheme: 'DPoP' });
    expect(doc.components.securitySchemes.session).toMatchObject({ type: 'apiKey', in: 'cookie' });
    const failures: string[] = [];
    for (const r of t.app.routeTable.filter((x) => x.method !== 'HEAD' && !HIDDEN.has(`${x.method} ${x.url}`))) {
      const op = doc.paths[openapiPath(r.url)][r.method.toLowerCase()];
      const schemes = (op.security as Array<Record<string, string[]>>).flatMap((s) => Object.keys(s)).sort();
      const expected =
        'public' in r.access ? [] : r.access.callers.every((c) => c === 'system') ? ['bearer', 'dpop'] : ['bearer', 'dpop', 'session'];
      if (JSON.stringify(schemes) !== JSON.stringify(expected)) failures.push(`${r.method} ${r.url}: ${schemes.join(',')}`);
      if (JSON.stringify(op['x-kvalreg-access']) !== JSON.stringify(r.access)) failures.push(`${r.method} ${r.url}: x-kvalreg-access`);
      if (!('public' in r.access) && !r.access.callers.every((c) => String(op.description).includes(c)))
        failures.push(`${r.method} ${r.url}: the description does not name who may call it`);
    }
    expect(failures).toEqual([]);
    expect(doc.paths['/fhir'].post.security).toEqual([{ bearer: [] }, { dpop: [] }]);
    expect(doc.paths['/api/registries'].get.security).toEqual([]);
  });

  it('describes the routes’ parameters from their schemas', () => {
    const stats = doc.paths['/api/registries/{id}/statistics'].get;
    const grain = stats.parameters.find((p: any) => p.name === 'grain' && p.in === 'query');
    expect(grain.schema.enum).toEqual(['year', 'quarter', 'month', 'rolling-12-months']);
    expect(stats.parameters.find((p: any) => p.name === 'id' && p.in === 'path').required).toBe(true);
    const grants = doc.paths['/api/admin/users/{subject}/grants'].put;
    expect(grants.requestBody.content['application/json'].schema.properties.grants.type).toBe('array');
  });
});

describe('documented responses match what the routes answer', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  /** Checks a real answer against the schema the description gives for it. */
  async function conforms(method: 'GET' | 'POST', url: string, template: string, token?: string, payload?: unknown) {
    const res = await t.app.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    const response = doc.paths[template][method.toLowerCase()].responses[String(res.statusCode)];
    expect(response, `${method} ${url} answered ${res.statusCode}, which the description does not document`).toBeDefined();
    const schema = response.content['application/json'].schema;
    const validate = ajv.compile(schema);
    const ok = validate(res.json());
    expect(validate.errors ?? [], `${method} ${url}`).toEqual([]);
    expect(ok).toBe(true);
    return res;
  }

  it('the registries, their indicators and statistics, and health', async () => {
    await conforms('GET', '/api/registries/fracture/indicators/nfr01_time_to_treatment', '/api/registries/{id}/indicators/{indicator}');

    await conforms('GET', '/api/registries/fracture/indicators', '/api/registries/{id}/indicators');
    await conforms('GET', '/api/registries/fracture/statistics', '/api/registries/{id}/statistics');
  });

  it('a refused input, in the house shape', async () => {
    const res = await conforms('GET', '/api/registries/fracture/statistics?grain=decade', '/api/registries/{id}/statistics');
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: 'grain must be one of year, quarter, month, rolling-12-months.',
      code: 'request.invalid',
      location: 'query.grain',
    });
  });

  it('a documented answer that differs from the real one is caught (the check above can fail)', () => {
    const schema = doc.paths['/api/registries/{id}/indicators'].get.responses['200'].content['application/json'].schema;
    expect(ajv.validate(schema, [{ id: 'kval-1', title: 'x' }])).toBe(false);
  });
});

const executablePath = findChromium();
describe.skipIf(!executablePath && !process.env.CI)('/api/docs', () => {
  it('is served with its files from our own origin, under the Content-Security-Policy', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/api/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(String(page.headers['content-security-policy'])).toMatch(/script-src 'self'/);
    expect(page.body).not.toMatch(/https?:\/\//);
    const files = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of files) {
      const res = await t.app.inject({ method: 'GET', url: file });
      expect(res.statusCode, file).toBe(200);
      expect(res.rawPayload.length, file).toBeGreaterThan(100);
    }
    expect((await t.app.inject({ method: 'GET', url: '/api/docs/..%2Fpackage.json' })).statusCode).toBe(400);
  });

  it('shows the API in Chromium, with no request leaving the origin and no CSP violation', async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    await t.app.listen({ port, host: '127.0.0.1' });
    const site = `http://127.0.0.1:${port}`;
    const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const elsewhere: string[] = [];
      const problems: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(site) && !r.url().startsWith('data:')) elsewhere.push(r.url());
      });
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(`${site}/api/docs`);
      await page.locator('.swagger-ui .info .title').filter({ hasText: 'kvalreg' }).waitFor({ timeout: 30_000 });
      // An operation of the registry API, with its access, shown from the generated description.
      // Swagger UI holds every operation of the description (it draws them as they scroll into view).
      const operations = Object.values(doc.paths).flatMap((p: any) => Object.keys(p)).length;
      expect(await page.evaluate('window.ui.specSelectors.operations().size')).toBe(operations);
      // An operation opens with its parameters, as the schemas describe them.
      await page.locator('.opblock-summary-path[data-path="/api/openapi.json"]').click();
      await page.locator('.opblock-body').first().waitFor();
      expect(elsewhere).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
