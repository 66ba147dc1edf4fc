// One error vocabulary (src/errors.ts) and one handler (server/error-answer.ts): each kind of error
// gives its HTTP status, its OperationOutcome issue code on the FHIR API and a JSON problem
// elsewhere, with the fields the web app reads; an error the platform did not raise on purpose
// reveals nothing of itself, and gives the request id to quote instead.
//
// The expected statuses are HTTP's own meanings (RFC 9110 §15); the issue codes are from FHIR R4's
// IssueType value set (http://hl7.org/fhir/R4/valueset-issue-type.html); the problem's members are
// RFC 9457 §3.1 (type, title, status, detail).
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDenied } from '../src/access/door.ts';
import { CaptureError, issue } from '../src/capture/outcome.ts';
import { KINDS, KvalregError, type ErrorKind } from '../src/errors.ts';
import type { Platform } from '../src/platform.ts';
import { RecordError } from '../src/records/workflow.ts';
import { DefinitionError } from '../src/registry/load.ts';
import { SubscriptionError } from '../src/reports/dispatch.ts';
import { buildServer } from '../src/server/app.ts';
import { PUBLIC } from '../src/server/access-policy.ts';
import { errorAnswer } from '../src/server/error-answer.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

// Written out here, not read from KINDS: the table in src/errors.ts is what is under test.
const EXPECTED: Record<ErrorKind, { status: number; fhir: string; code: string }> = {
  invalid: { status: 400, fhir: 'invalid', code: 'request.invalid' },
  unauthenticated: { status: 401, fhir: 'login', code: 'auth.required' },
  forbidden: { status: 403, fhir: 'forbidden', code: 'access.denied' },
  'not-found': { status: 404, fhir: 'not-found', code: 'not.found' },
  conflict: { status: 409, fhir: 'conflict', code: 'conflict' },
  gone: { status: 410, fhir: 'deleted', code: 'not.found' },
  'too-large': { status: 413, fhir: 'too-long', code: 'too.large' },
  unsupported: { status: 415, fhir: 'not-supported', code: 'request.invalid' },
  unprocessable: { status: 422, fhir: 'invalid', code: 'request.invalid' },
  throttled: { status: 429, fhir: 'throttled', code: 'rate.limited' },
  'bad-gateway': { status: 502, fhir: 'transient', code: 'server.error' },
  unavailable: { status: 503, fhir: 'transient', code: 'server.error' },
  internal: { status: 500, fhir: 'exception', code: 'server.error' },
};
const SECRET = 'password=hunter2 for 01017012345';

describe('every kind of error', () => {
  it('has a row in the table, and no row is left untested', () => {
    expect(Object.keys(KINDS).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [kind, want] of Object.entries(EXPECTED) as Array<[ErrorKind, (typeof EXPECTED)[ErrorKind]]>) {
    it(`${kind}: ${want.status}, OperationOutcome "${want.fhir}", a problem with code ${want.code}`, () => {
      const err = new KvalregError(kind, `Something was ${kind}.`, { location: 'year' });
      // An internal error's own text is for the log only: the caller reads the generic message.
      const said = kind === 'internal' ? expect.stringMatching(/^An internal error occurred.*request id r-1/) : `Something was ${kind}.`;
      expect(err.httpStatus).toBe(want.status);

      const fhir = errorAnswer(err, { fhir: true, requestId: 'r-1' });
      expect(fhir.status).toBe(want.status);
      expect(fhir.contentType).toBe('application/fhir+json');
      expect(fhir.body).toEqual({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: want.fhir, diagnostics: said, expression: ['year'] }],
      });

      const json = errorAnswer(err, { fhir: false, requestId: 'r-1' });
      expect(json.status).toBe(want.status);
      expect(json.contentType).toBe('application/problem+json');
      expect(json.body).toMatchObject({
        type: `urn:kvalreg:problem:${kind}`,
        title: expect.any(String),
        status: want.status,
        detail: said,
        error: said,
        code: want.code,
        location: 'year',
      });
    });
  }

  it("keeps an error's own code, params and details for the web app", () => {
    const err = new KvalregError('unprocessable', 'Not saved.', {
      code: 'form.notSaved',
      params: { n: 2 },
      details: [{ variable: 'asa', rule: 'required', message: 'asa is required' }],
    });
    expect(errorAnswer(err, { fhir: false, requestId: 'r' }).body).toMatchObject({
      status: 422,
      code: 'form.notSaved',
      params: { n: 2 },
      details: [{ variable: 'asa', rule: 'required', message: 'asa is required' }],
    });
  });
});

describe("the domain's errors are of the one vocabulary", () => {
  const answer = (err: unknown, fhir = false) => errorAnswer(err, { fhir, requestId: 'r' });

  it('RecordError by status or kind, AccessDenied, SubscriptionError with its code, DefinitionError with its problems', () => {
    expect(answer(new RecordError('No case 7.', 404))).toMatchObject({ status: 404, kind: 'not-found' });
    expect(answer(new RecordError('Already finalised.', 'conflict'))).toMatchObject({ status: 409 });
    expect(answer(new AccessDenied('Not your unit.'), true).body).toMatchObject({ issue: [{ code: 'forbidden' }] });
    expect(answer(new AccessDenied('Not your unit.')).body).toMatchObject({ status: 403, code: 'access.denied' });
    expect(answer(new SubscriptionError('Too many.', 409, 'subscription.limit')).body).toMatchObject({
      status: 409,
      code: 'subscription.limit',
    });
    // A registry declaration that does not load is the deployment's fault, not the caller's: a 500
    // that names no file of the deployment (the problems are logged).
    const definition = answer(new DefinitionError(['registries/x/codebook.yaml: a is wrong']));
    expect(definition.body).toMatchObject({ status: 500, code: 'server.error' });
    expect(JSON.stringify(definition.body)).not.toContain('codebook.yaml');
    for (const err of [new RecordError('x'), new AccessDenied('x'), new DefinitionError([])]) expect(err).toBeInstanceOf(KvalregError);
  });

  it('a CaptureError on the FHIR API answers with its own issues, each with its path', () => {
    const err = new CaptureError([issue.error('value', 'Bundle.entry[0].resource.birthDate', 'Not a date.')], 422);
    expect(answer(err, true)).toMatchObject({
      status: 422,
      body: { resourceType: 'OperationOutcome', issue: [{ code: 'value', expression: ['Bundle.entry[0].resource.birthDate'] }] },
    });
  });

  it("a framework's refusal keeps its 4xx status: a body too large is 413", () => {
    const err = Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(answer(err).body).toMatchObject({ status: 413, code: 'too.large', error: 'Request body is too large' });
    expect(answer(err, true).body).toMatchObject({ issue: [{ code: 'too-long' }] });
  });
});

describe('an unexpected error', () => {
  const unexpected = [
    new Error(SECRET),
    // A database error: its detail names the values of the row.
    Object.assign(new Error('duplicate key value violates unique constraint'), { detail: SECRET, code: '23505' }),
    // A library's error claiming a 5xx status, and something thrown that is not an Error at all.
    Object.assign(new Error(SECRET), { statusCode: 502 }),
    SECRET,
  ];

  it('is a 500 that reveals nothing but the request id, in FHIR and in JSON', () => {
    for (const err of unexpected) {
      for (const fhir of [true, false]) {
        const a = errorAnswer(err, { fhir, requestId: 'req-42' });
        expect(a.status).toBe(500);
        expect(a.expected).toBe(false);
        const text = JSON.stringify(a.body);
        expect(text).not.toContain('hunter2');
        expect(text).not.toContain('01017012345');
        expect(text).not.toContain('duplicate key');
        expect(text).toContain('req-42');
        if (fhir) expect(a.body).toMatchObject({ issue: [{ code: 'exception' }] });
        else expect(a.body).toMatchObject({ status: 500, code: 'server.error', requestId: 'req-42', type: 'urn:kvalreg:problem:internal' });
        expect(a.body).not.toHaveProperty('details');
      }
    }
  });
});

describe('through the server: the hooks and every route answer with the one handler', () => {
  let t: TestPlatform;
  let app: Awaited<ReturnType<typeof buildServer>>;
  const lines: any[] = [];
  beforeAll(async () => {
    t = await testPlatform();
    // A server of its own on the same platform, logging to an array, with two routes that fail.
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    const platform = Object.create(t.platform, { log: { value: pino({ level: 'warn' }, sink) } }) as Platform;
    app = await buildServer(platform);
    app.get('/api/test/crash', { config: { access: PUBLIC } }, async () => {
      throw Object.assign(new Error(`insert failed`), { detail: SECRET });
    });
    app.get('/fhir/test/crash', { config: { access: PUBLIC } }, async () => {
      throw new Error(SECRET);
    });
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('a crash: 500, the request id in the body and the header, the error logged under it, the secret nowhere in the answer', async () => {
    for (const url of ['/api/test/crash', '/fhir/test/crash']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(500);
      const id = String(res.headers['x-request-id']);
      expect(id).not.toBe('');
      expect(res.body).toContain(id);
      expect(res.body).not.toContain('hunter2');
      expect(res.headers['content-type']).toMatch(url.startsWith('/fhir') ? /^application\/fhir\+json/ : /^application\/problem\+json/);
      const logged = lines.find((l) => l.msg === 'request failed' && l.reqId === id);
      expect(logged, `a log line "request failed" with reqId ${id}`).toBeDefined();
    }
  });

  it('a refusal by a hook (no credentials) and by a route (an unknown registry) are problems with the fields the web app reads', async () => {
    const anon = await app.inject({ method: 'GET', url: '/api/registries/fracture/worklist' });
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(anon.json()).toMatchObject({
      status: 401,
      title: 'Authentication required',
      code: 'auth.required',
      error: expect.stringMatching(/log in/),
    });

    const unknown = await app.inject({
      method: 'GET',
      url: '/api/registries/nope/worklist',
      headers: { authorization: `Bearer ${t.tokens.admin}` },
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({
      type: 'urn:kvalreg:problem:not-found',
      status: 404,
      code: 'not.found',
      detail: expect.stringMatching(/Unknown registry "nope"/),
    });
  });

  it('on the FHIR API the same refusals are OperationOutcomes', async () => {
    const anon = await app.inject({ method: 'POST', url: '/fhir', headers: { 'content-type': 'application/fhir+json' }, payload: '{}' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
    const plain = await app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(plain.statusCode).toBe(415);
    expect(plain.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'not-supported' }] });
  });
});
