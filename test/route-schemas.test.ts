// Every route declares zod schemas for its input (server/openapi.ts), as it declares its access
// policy: a route added without them fails here. The schemas both check the input before the
// handler runs and make the OpenAPI description, so a route without them is neither checked nor
// described.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ZodType } from 'zod/v4/core';
import type { RouteEntry } from '../src/server/access-policy.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

/** The few routes without input schemas, each with its reason. */
const SCHEMALESS: Record<string, string> = {
  // The web app's files and pages: any path, nothing read from the request but the path.
  'GET /': 'the web app (server/web.ts): index.html',
  'GET /*': 'the web app (server/web.ts): its pages and files by path',
  'GET /assets/*': 'the web app (server/web.ts): built files by path',
};
/** Routes whose body is not described by a zod schema, with the reason: FHIR bodies are checked against the HL7 R4 schema and the profiles by the capture pipeline, which stores the message and answers with an OperationOutcome naming the element. */
const FHIR_BODY = /^POST \/fhir/;
/**
 * Routes allowed to lack their schemas for a while, each with the reason (none today). A route
 * listed here that has its schemas fails the test: the list only shrinks.
 */
const PENDING = new Set<string>([]);

let t: TestPlatform;
beforeAll(async () => {
  t = await testPlatform();
});
afterAll(async () => {
  await t?.close();
});

const isZod = (s: unknown) => s instanceof $ZodType;

/** What a route lacks: its schema parts, by the route's URL and method. */
function missing(route: RouteEntry): string[] {
  const key = `${route.method} ${route.url}`;
  if (key in SCHEMALESS) return [];
  const s = (route.schema ?? {}) as Record<string, unknown>;
  const lacks: string[] = [];
  if (!isZod(s.querystring)) lacks.push('querystring');
  if (/[:*]/.test(route.url) && !isZod(s.params)) lacks.push('params');
  if (['POST', 'PUT', 'PATCH'].includes(route.method) && !FHIR_BODY.test(key) && !isZod(s.body)) lacks.push('body');
  return lacks;
}

describe('route schemas', () => {
  it('every route declares zod schemas for its query, its path parameters and its body', () => {
    const routes = t.app.routeTable.filter((r) => r.method !== 'HEAD');
    expect(routes.length).toBeGreaterThan(40);
    const failures = routes.map((r): [string, string[]] => [`${r.method} ${r.url}`, missing(r)]).filter(([, lacks]) => lacks.length);
    expect(failures.filter(([route]) => !PENDING.has(route)).map(([route, lacks]) => `${route}: no ${lacks.join(', ')} schema`)).toEqual(
      [],
    );
    const lacking = new Set(failures.map(([route]) => route));
    expect([...PENDING].filter((route) => !lacking.has(route)).map((route) => `${route} has its schemas: take it off PENDING`)).toEqual([]);
  });

  it('lists as schemaless only routes that exist, so the list cannot hide a new route', () => {
    const keys = new Set(t.app.routeTable.map((r) => `${r.method} ${r.url}`));
    for (const key of Object.keys(SCHEMALESS)) expect(keys, key).toContain(key);
    expect([...keys].filter((k) => FHIR_BODY.test(k)).length).toBeGreaterThan(0);
  });

  it('would catch a route without a schema', () => {
    const route: RouteEntry = { method: 'POST', url: '/api/registries/:id/things', access: { public: true } };
    expect(missing(route)).toEqual(['querystring', 'params', 'body']);
  });
});
