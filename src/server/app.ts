// The HTTP app: thin routes over the modules. Only this folder knows HTTP.
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Caller } from '../access/caller.ts';
import { AccessDenied } from '../access/door.ts';
import { TokenAuthenticator } from '../auth/tokens.ts';
import { AUX_SYSTEM, identityFromIdentifier, NIN_SYSTEMS } from '../capture/identity.ts';
import { auxiliaryNumber } from '../identity/nin.ts';
import { issue, operationOutcome } from '../capture/outcome.ts';
import type { Platform } from '../platform.ts';
import { reassessEvents } from '../records/events.ts';
import { registrationSummary } from '../records/summary.ts';
import { osloDate } from '../time/oslo.ts';
import { changeStatus, completeForm, deleteForm, getCase, history, RecordError, worklist } from '../records/workflow.ts';
import { reserve, reserveByHash } from '../records/reservation.ts';
import { ADMINS, PATIENTS, permits, PUBLIC, READERS, requirePolicies, SYSTEMS, WRITERS } from './access-policy.ts';
import { innsyn } from '../records/innsyn.ts';
import { deliverExtract, reproduceExtract } from '../research/extract.ts';
import { writeEvents } from '../audit/trail.ts';
import { callerLabel } from '../access/caller.ts';
import { indicatorRoutes } from './routes/indicators.ts';
import { auditRoutes } from './routes/audit.ts';
import { personRoutes } from './routes/persons.ts';
import { webDataRoutes } from './routes/web-data.ts';
import { OidcLogin } from '../auth/oidc.ts';
import { Sessions } from '../auth/sessions.ts';
import type { OidcSettings } from '../config.ts';
import { cookieNames, CSRF_HEADER, needsCsrf, registerAuthRoutes } from './auth.ts';
import { registerWebApp } from './web.ts';
import { screeningRoutes } from './routes/screening.ts';
import { reportRoutes } from './routes/reports.ts';
import { publicRoutes } from './routes/public.ts';
import { errorCode } from './error-codes.ts';
import { innsynStatusRoutes } from './routes/innsyn-status.ts';
import { patientRoutes } from './routes/patients.ts';
import { codeListRoutes } from './routes/codelists.ts';
import { worklistRoutes } from './routes/worklist.ts';
import { explanationExportRoutes } from './routes/explanation-export.ts';
import { manualRoutes } from './routes/manual.ts';
import { extractRequestRoutes } from './routes/extract-requests.ts';
import { adminRoutes } from './routes/admin.ts';
import { isWebAppRequest, rateLimitKey, rateLimitMax, rateLimitMessage } from './rate-limits.ts';
import { promRoutes } from './routes/prom.ts';
import { qualityRoutes } from './routes/quality.ts';
import { metadataRoutes } from './routes/metadata.ts';
import { fhirRoutes } from './routes/fhir.ts';
import { promInnsyn } from '../prom/innsyn.ts';
import { checkBodyInput, checkUrlInput, fhirContentTypeProblem } from './input.ts';
import { logSerializers, redactText, redactUrl, safeError } from '../log/redact.ts';
import { checkReadiness } from './readiness.ts';
import { createMetrics, observe, requestId } from './metrics.ts';
import { apiDocRoutes, registerSchemas, validationProblem } from './openapi.ts';

const VERSION = '0.1.0';
const FHIR_JSON = 'application/fhir+json';

export interface ServerOptions {
  /** OpenID Connect login settings, when not from the environment (the local provider of `kvalreg start`). */
  oidc?: OidcSettings;
}

export async function buildServer(platform: Platform, opts: ServerOptions = {}) {
  // Request lines are logged at debug level only: at capture rates they would drown the log.
  // A silenced platform (tests) stays silent; otherwise refusals are logged at warn.
  const httpLevel = ['debug', 'trace', 'silent', 'error', 'fatal'].includes(platform.log.level) ? platform.log.level : 'warn';
  // Requests are logged by path and parameter names, errors by kind and code (log/redact.ts).
  // [proxy] req.ip is the client's address: X-Forwarded-For is believed only from the configured
  // reverse proxies (KVALREG_TRUSTED_PROXIES), so rate limits and the audit trail are per real client.
  const trustProxy = platform.config.trustedProxies.length ? platform.config.trustedProxies : false;
  const app = Fastify({
    loggerInstance: platform.log.child({ module: 'http' }, { level: httpLevel, serializers: logSerializers }),
    bodyLimit: 32 * 1024 * 1024,
    genReqId: requestId,
    requestIdHeader: false,
    trustProxy,
  });
  // Request ids (response header, every log line) and metrics (served apart: server/metrics.ts).
  const metrics = createMetrics(platform.db.url);
  observe(app as unknown as FastifyInstance, metrics);
  app.decorate('metrics', metrics);
  const auth = new TokenAuthenticator(platform.db.pool, platform.config.oauth);
  const sessions = new Sessions(platform.db.pool, platform.keys, platform.config.session);
  const oidc = opts.oidc ?? platform.config.oidc;
  const login = oidc ? new OidcLogin(oidc) : undefined;
  // [patient-issuer] Patients' own provider (ID-porten style), beside personnel's, when configured.
  const patientLogin = platform.config.patientOidc ? new OidcLogin(platform.config.patientOidc) : undefined;
  const sessionCookie = cookieNames(!platform.config.session.insecureCookies).session;
  // Every route's input checked by its zod schemas, and the OpenAPI description made from them (server/openapi.ts).
  await registerSchemas(app as unknown as FastifyInstance, { version: VERSION, publicUrl: platform.config.publicUrl });

  // The URL first, before anything records it (the access check audits a refused path): no
  // repeated query parameter, no text the database cannot store, no identity number (server/input.ts).
  app.addHook('onRequest', async (req, reply) => {
    const problem = checkUrlInput(req);
    if (!problem) return;
    if (req.url.startsWith('/fhir'))
      return reply
        .code(400)
        .type(FHIR_JSON)
        .send(operationOutcome([issue.error('invalid', problem.location, problem.message)]));
    return reply.code(400).send({ error: problem.message, location: problem.location });
  });

  // Cookies are parsed before the caller is established.
  await app.register(cookie);

  // Who is calling: established once per request, before the rate limit (whose budget depends on
  // it) and the route's access policy (which decides on it). A bearer token, when sent, decides
  // alone; otherwise a session cookie of a logged-in person gives the same kind of Caller.
  app.addHook('onRequest', async (req) => {
    if (req.headers.authorization) {
      // [dpop] A DPoP proof is checked against the URL the client addressed: the public URL, not the request's host.
      const found = await auth.check({
        authorization: req.headers.authorization,
        dpop: headerValue(req.headers.dpop),
        request: { method: req.method, url: `${platform.config.publicUrl}${req.url}` },
      });
      req.caller = found.caller ?? undefined;
      if (found.problem === 'dpop') req.tokenRefusal = found.message;
      else if (found.problem)
        req.tokenProblem = found.problem === 'expired' ? `expired on ${found.expiredAt?.toISOString() ?? 'an earlier date'}` : 'revoked';
      return;
    }
    const sid = req.cookies[sessionCookie];
    if (!sid) return;
    const found = await sessions.resolve(sid);
    if (found.ok) {
      req.caller = found.session.caller;
      req.session = { id: sid, resolved: found.session };
    } else {
      req.sessionProblem = found.reason;
    }
  });

  // Security headers on every response (HSTS, no sniffing, no framing, a strict CSP for the API).
  await app.register(helmet, { global: true });
  // Rate limits: generous per authenticated caller (hospital systems send in bulk), strict per
  // address for requests without valid credentials (guessing tokens). 429 says when to retry.
  // Budgets: see rate-limits.ts (the web app's files and pages are not counted; open data read
  // without credentials has its own, larger budget per address).
  await app.register(rateLimit, {
    global: true,
    timeWindow: 60_000,
    allowList: (req) => isWebAppRequest(req),
    max: (_req, key) => rateLimitMax(platform.config, key),
    keyGenerator: rateLimitKey,
    errorResponseBuilder: (_req, ctx) =>
      new RecordError(rateLimitMessage(ctx.max, ctx.after), 429, [], 'rate.limited', { max: ctx.max, after: ctx.after }),
  });

  // FHIR bodies are kept as the exact text received: that text is what the inbox stores.
  app.addContentTypeParser([FHIR_JSON, 'application/json', 'application/x-ndjson'], { parseAs: 'string' }, (req, body, done) => {
    if (req.url.startsWith('/fhir')) return done(null, body);
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error('The request body is not valid JSON.'), { statusCode: 400 }), undefined);
    }
  });

  app.setErrorHandler((err: any, req, reply) => {
    const fhir = req.url.startsWith('/fhir');
    // Input that fails its route's schema: 400 naming the field and what it should be.
    const invalid = validationProblem(err);
    if (invalid) {
      req.log.warn({ status: 400, reason: redactText(invalid.message), url: redactUrl(req.url) }, 'request refused');
      if (fhir)
        return reply
          .code(400)
          .type(FHIR_JSON)
          .send(operationOutcome(invalid.details.map((d) => issue.error('invalid', d.location, d.message))));
      return reply
        .code(400)
        .send({ error: invalid.message, code: 'request.invalid', location: invalid.location, details: invalid.details });
    }
    const status =
      err instanceof AccessDenied
        ? 403
        : err instanceof RecordError
          ? err.httpStatus
          : err.statusCode && err.statusCode < 500
            ? err.statusCode
            : 500;
    // Never the URL's query values nor a database error's detail: they may carry identity numbers or names.
    if (status >= 500) req.log.error({ err: safeError(err), url: redactUrl(req.url) }, 'request failed');
    else req.log.warn({ status, reason: redactText(String(err.message)), url: redactUrl(req.url) }, 'request refused');
    const message =
      status >= 500 ? 'An internal error occurred; it has been logged. Try again, and contact the registry if it persists.' : err.message;
    if (fhir)
      return reply
        .code(status)
        .type(FHIR_JSON)
        .send(
          operationOutcome([
            issue.error(
              status === 403
                ? 'forbidden'
                : status === 413
                  ? 'too-long'
                  : status === 429
                    ? 'throttled'
                    : status >= 500
                      ? 'processing'
                      : 'invalid',
              undefined,
              message,
            ),
          ]),
        );
    // A code names the message for the web app, which says it in the reader's language (errorCode.ts).
    return reply.code(status).send({
      error: message,
      ...errorCode(err, status),
      ...(err instanceof RecordError && err.details.length ? { details: err.details } : {}),
    });
  });

  const routes = requirePolicies(app as unknown as Pick<FastifyInstance, 'addHook'>);
  app.decorate('routeTable', routes);
  apiDocRoutes(app as unknown as FastifyInstance);

  // Who is calling, and may they use this route at all? Decided after the rate limit (so refused
  // guesses count against it) and before the body is parsed.
  app.addHook('preParsing', async (req, reply) => {
    const access = req.routeOptions.config?.access;
    const refuse = (status: number, msg: string, code: string) => {
      if (req.url.startsWith('/fhir'))
        return reply
          .code(status)
          .type(FHIR_JSON)
          .send(operationOutcome([issue.error('forbidden', undefined, msg)]));
      return reply.code(status).send({ error: msg, code });
    };
    // A browser sends its session cookie with any request, also one another site makes it send:
    // a state-changing request on a session must carry the session's CSRF token (from GET /api/me).
    if (needsCsrf(req) && !sessions.checkCsrf(req.session!.id, headerValue(req.headers[CSRF_HEADER]))) {
      return refuse(
        403,
        `Missing or wrong CSRF token: a request that changes something must send the header X-CSRF-Token with the csrfToken from GET /api/me. Reload the page and try again.`,
        'auth.csrf',
      );
    }
    if (!access || 'public' in access) return;
    const c = req.caller;
    if (!c) {
      if (req.tokenProblem)
        return refuse(401, `The bearer token was ${req.tokenProblem}. Ask the registry for a new token (kvalreg token).`, 'auth.required');
      if (req.tokenRefusal) {
        reply.header('www-authenticate', 'DPoP error="invalid_dpop_proof", algs="ES256 PS256 RS256"');
        return refuse(401, req.tokenRefusal, 'auth.required');
      }
      if (req.sessionProblem === 'expired')
        return refuse(401, 'Your session has expired (it was idle too long, or reached its time limit). Log in again.', 'auth.expired');
      return refuse(
        401,
        'Authentication required: log in (GET /auth/login), or send "Authorization: Bearer <token>" with a token issued by the registry.',
        'auth.required',
      );
    }
    if (!permits(access, c)) {
      await writeEvents(platform.db.pool, [
        {
          actor: callerLabel(c),
          role: c.kind === 'user' ? c.grants.map((g) => g.role).join(',') : c.kind,
          unit: null,
          personId: null,
          action: `${req.method} ${req.routeOptions.url}`,
          object: req.url.split('?')[0],
          purpose: 'route',
          outcome: 'denied',
          client: req.ip,
        },
      ]).catch(() => undefined);
      return refuse(403, `This needs one of the roles ${access.callers.join(', ')}; your token does not have it.`, 'auth.role');
    }
  });

  // A FHIR interaction takes FHIR JSON only: a text/plain body, or one without a content type, is
  // refused before it is read (and never stored as a message).
  app.addHook('preParsing', async (req, reply) => {
    if (req.method !== 'POST' || !req.url.startsWith('/fhir')) return;
    const problem = fhirContentTypeProblem(headerValue(req.headers['content-type']));
    if (problem)
      return reply
        .code(415)
        .type(FHIR_JSON)
        .send(operationOutcome([issue.error('not-supported', undefined, problem)]));
  });
  // Every route's JSON (or text) body: no text the database cannot store (server/input.ts).
  // FHIR bodies are the capture pipeline's to check (it answers with the element's path).
  app.addHook('preValidation', async (req, reply) => {
    if (req.url.startsWith('/fhir')) return;
    const problem = checkBodyInput(req);
    if (problem) return reply.code(400).send({ error: problem.message, location: problem.location });
  });

  // Liveness (the process answers) and readiness (it can do its work: the database answers, no
  // migration is pending, the background jobs have a living leader and keep up; server/readiness.ts).
  app.get('/health', { config: { access: PUBLIC } }, async () => ({ status: 'ok' }));
  app.get('/health/live', { config: { access: PUBLIC } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { config: { access: PUBLIC } }, async (req, reply) => {
    const ready = await checkReadiness(platform.db.url, {
      leaderStaleMs: platform.config.leaderStaleMs,
      lagFloorMs: platform.config.jobLagLimitMs,
    });
    if (ready.error) req.log.warn({ err: safeError(ready.error) }, 'not ready: the database does not answer');
    else if (!ready.ok) req.log.warn({ migrations: ready.body.migrations, jobs: ready.body.jobs }, 'not ready');
    reply.header('cache-control', 'no-store');
    return reply.code(ready.ok ? 200 : 503).send(ready.body);
  });
  indicatorRoutes(app as unknown as FastifyInstance, platform);
  screeningRoutes(app as unknown as FastifyInstance, platform);
  webDataRoutes(app as unknown as FastifyInstance, platform);

  registerAuthRoutes(app as unknown as FastifyInstance, platform, sessions, login, patientLogin);
  reportRoutes(app as unknown as FastifyInstance, platform);
  publicRoutes(app as unknown as FastifyInstance, platform);
  promRoutes(app as unknown as FastifyInstance, platform);
  qualityRoutes(app as unknown as FastifyInstance, platform);
  metadataRoutes(app as unknown as FastifyInstance, platform);

  const postBundle = async (req: FastifyRequest, reply: FastifyReply, dryRun: boolean) => {
    const c = req.caller as Caller & { kind: 'system' };
    if (typeof req.body !== 'string' || req.body.length === 0) {
      return reply
        .code(400)
        .type(FHIR_JSON)
        .send(
          operationOutcome([
            issue.error('structure', undefined, 'Empty body. Send a FHIR Bundle with Content-Type application/fhir+json.'),
          ]),
        );
    }
    const outcome = dryRun ? await platform.inbox.validate(c, req.body) : await platform.inbox.capture(c, 'fhir', req.body);
    if (!dryRun) metrics.captured(outcome.status);
    if (outcome.messageId) reply.header('X-Kvalreg-Message', String(outcome.messageId));
    // [conformance] $validate answers with its findings and 200, as FHIR servers do; only a body that
    // is not JSON at all (nothing to validate) or a failure of the server is not a 200.
    const status = dryRun && outcome.httpStatus < 500 && !isUnparsable(req.body) ? 200 : outcome.httpStatus;
    return reply.code(status).type(FHIR_JSON).send(outcome.body);
  };
  app.post('/fhir', { config: { access: SYSTEMS } }, (req, reply) => postBundle(req, reply, false));
  app.post('/fhir/', { config: { access: SYSTEMS } }, (req, reply) => postBundle(req, reply, false));
  // [conformance] The CapabilityStatement (from the route table), $validate per resource type, the
  // extensions' StructureDefinitions, and OperationOutcomes for what does not exist (routes/fhir.ts).
  fhirRoutes(app as unknown as FastifyInstance, platform, {
    version: VERSION,
    validateBundle: (req, reply) => postBundle(req, reply, true),
    security:
      'OAuth2 access tokens (JWT) from the configured issuer (HelseID), as "Authorization: Bearer" or, DPoP-bound, as "Authorization: DPoP" with a DPoP proof; or a bearer token issued by the registry. See docs/fhir-api.md.',
  });

  const registryOf = (id: string) => {
    const r = platform.registry(id);
    if (!r) throw new RecordError(`Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`, 404);
    return r;
  };
  const userOf = (c: Caller) => (c.kind === 'user' ? c.user : c.kind === 'system' ? c.sender : c.task);

  app.get('/api/registries', { config: { access: PUBLIC } }, async () =>
    platform.registries.map((r) => ({
      id: r.id,
      version: r.version,
      title: r.meta.title,
      forms: r.forms.map((f) => ({ id: f.id, title: f.title })),
    })),
  );

  // Registrations per month for a unit: cases, complete, finalised, forms by status (counts only).
  app.get<{ Params: { id: string }; Querystring: { unit?: string; year?: string } }>(
    '/api/registries/:id/registrations/summary',
    { config: { access: READERS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      const year = req.query.year ?? osloDate(new Date().toISOString()).slice(0, 4);
      if (!/^\d{4}$/.test(year)) throw new RecordError('year must be a year like 2024.', 400);
      if (req.query.unit !== undefined && !platform.units.has(req.query.unit))
        throw new RecordError(`Unknown unit "${req.query.unit}": give the RESH id of a unit.`, 400);
      return platform.data.transaction(c, 'registrations:summary', (tx) => registrationSummary(tx, r, { unit: req.query.unit, year }), {
        readOnly: true,
        client: req.ip,
      });
    },
  );
  app.get<{ Params: { id: string }; Querystring: { unit?: string; limit?: string; offset?: string } }>(
    '/api/registries/:id/worklist',
    { config: { access: READERS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(
        c,
        'worklist',
        (tx) =>
          worklist(tx, r, {
            unit: req.query.unit,
            limit: pageParam(req.query.limit, 'limit', 100),
            offset: pageParam(req.query.offset, 'offset', 0),
          }),
        { readOnly: true, client: req.ip },
      );
    },
  );

  app.get<{ Params: { id: string; caseId: string } }>('/api/registries/:id/cases/:caseId', { config: { access: READERS } }, async (req) => {
    const c = req.caller!;
    const r = registryOf(req.params.id);
    return platform.data.transaction(c, 'case:read', (tx) => getCase(tx, r, positiveId(req.params.caseId, 'case')), {
      readOnly: true,
      client: req.ip,
    });
  });

  app.get<{ Params: { id: string; caseId: string } }>(
    '/api/registries/:id/cases/:caseId/history',
    { config: { access: READERS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(c, 'case:history', (tx) => history(tx, r, positiveId(req.params.caseId, 'case')), {
        readOnly: true,
        client: req.ip,
      });
    },
  );

  type FormParams = { id: string; caseId: string; form: string; instance?: string };
  const instanceOf = (p: FormParams) => {
    try {
      return p.instance ? decodeURIComponent(p.instance) : '';
    } catch {
      throw new RecordError(`"${p.instance}" is not a form instance: a stray "%" in the path.`, 400);
    }
  };
  for (const suffix of ['', '/:instance']) {
    app.patch<{ Params: FormParams; Body: { values?: Record<string, unknown> } }>(
      `/api/registries/:id/cases/:caseId/forms/:form${suffix}`,
      { config: { access: WRITERS } },
      async (req) => {
        const c = req.caller!;
        const r = registryOf(req.params.id);
        const values = req.body?.values;
        if (!values || typeof values !== 'object')
          throw new RecordError('Send {"values": {"variable": value, ...}} with the variables to set.', 400);
        const caseId = positiveId(req.params.caseId, 'case');
        const result = await platform.data.transaction(
          c,
          'case:complete',
          (tx) => completeForm(tx, r, caseId, req.params.form, instanceOf(req.params), values, userOf(c)),
          { client: req.ip },
        );
        // A changed start date or time may move the case to another event (see records/events.ts).
        const event = await reassessEvents(platform.data, platform.keys, r, caseId);
        return event && result.event ? { ...result, event: { ...result.event, ...event } } : result;
      },
    );
    for (const action of ['finalise', 'reopen'] as const) {
      app.post<{ Params: FormParams }>(
        `/api/registries/:id/cases/:caseId/forms/:form${suffix}/${action}`,
        { config: { access: WRITERS } },
        async (req) => {
          const c = req.caller!;
          const r = registryOf(req.params.id);
          return platform.data.transaction(
            c,
            `case:${action}`,
            (tx) => changeStatus(tx, r, positiveId(req.params.caseId, 'case'), req.params.form, instanceOf(req.params), action, userOf(c)),
            { client: req.ip },
          );
        },
      );
    }
  }
  app.delete<{ Params: FormParams }>(
    '/api/registries/:id/cases/:caseId/forms/:form/:instance',
    { config: { access: WRITERS } },
    async (req, reply) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      await platform.data.transaction(
        c,
        'case:delete-form',
        (tx) => deleteForm(tx, r, positiveId(req.params.caseId, 'case'), req.params.form, instanceOf(req.params), userOf(c)),
        { client: req.ip },
      );
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { status?: string; limit?: string } }>('/api/inbox', { config: { access: ADMINS } }, async (req) => {
    const c = req.caller!;
    requireAllRegistries(c);
    const status = req.query.status ?? 'quarantined';
    if (!['received', 'processed', 'quarantined', 'refused'].includes(status))
      throw new RecordError('status must be received, processed, quarantined or refused.', 400);
    return platform.inbox.list(c, status, pageParam(req.query.limit, 'limit', 100));
  });
  app.post<{ Params: { messageId: string } }>('/api/inbox/:messageId/reprocess', { config: { access: ADMINS } }, async (req, reply) => {
    const c = req.caller!;
    requireAllRegistries(c);
    const outcome = await platform.inbox.process(positiveId(req.params.messageId, 'message'), { reprocess: true });
    return reply.code(outcome.httpStatus).send({ messageId: outcome.messageId, status: outcome.status, outcome: outcome.body });
  });

  // An identity for a patient whose identity is unknown: sent later as Patient.identifier with
  // system urn:kvalreg:auxiliary-number. It can never collide with a national identity number.
  app.post(
    '/api/auxiliary-numbers',
    { config: { access: { callers: ['system', 'unit-registrar', 'registry-admin', 'platform-admin'] } } },
    async (_req, reply) => {
      return reply.code(201).send({ system: AUX_SYSTEM, value: auxiliaryNumber() });
    },
  );

  // Research extracts for approved projects: delivered, logged, reproducible.
  app.post<{ Params: { id: string }; Body: unknown }>(
    '/api/registries/:id/extracts',
    { config: { access: ADMINS } },
    async (req, reply) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      const delivery = await platform.data.transaction(
        c,
        'research-extract',
        (tx) => {
          tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']); // an admin of this registry, not of another
          return deliverExtract(tx, r, req.body, platform.keys, userOf(c));
        },
        { client: req.ip },
      );
      return reply.code(201).send(delivery);
    },
  );
  app.get<{ Params: { id: string; deliveryId: string } }>(
    '/api/registries/:id/extracts/:deliveryId/reproduce',
    { config: { access: ADMINS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(
        c,
        'research-extract:reproduce',
        (tx) => {
          tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']);
          return reproduceExtract(tx, r, positiveId(req.params.deliveryId, 'delivery'), platform.keys);
        },
        { readOnly: true, client: req.ip },
      );
    },
  );

  // Innsyn: the patient's own view, and opting out from the same place.
  app.get<{ Querystring: { lang?: string } }>('/api/innsyn', { config: { access: PATIENTS } }, async (req) => {
    const c = req.caller!;
    const lang = req.query.lang === 'en' ? 'en' : 'nb';
    return platform.data.transaction(
      c,
      'innsyn',
      async (tx) => ({
        ...(await innsyn(tx, platform.registries, lang)),
        // The questionnaires the patient was sent and their answers (src/prom/innsyn.ts).
        prom: await promInnsyn(tx, platform.prom, platform.registries, platform.units, lang),
      }),
      { readOnly: true, client: req.ip },
    );
  });
  app.post('/api/innsyn/reservation', { config: { access: PATIENTS } }, async (req, reply) => {
    const c = req.caller!;
    if (c.kind !== 'user' || !c.personHash)
      throw new RecordError(
        'Your login does not carry your identity number, so the reservation cannot be registered. Contact the registry.',
        409,
      );
    const hash = Buffer.from(c.personHash, 'hex');
    // Carried out by the platform for the patient: it must reach raw messages, which only the platform may.
    const result = await platform.data.transaction(
      { kind: 'platform', task: 'reservation' },
      'reservation:innsyn',
      (tx) => reserveByHash(tx, hash, 'innsyn', platform.keys, { label: callerLabel(c), role: 'patient' }),
      { client: req.ip },
    );
    return reply.code(201).send({
      reserved: true,
      ...result,
      message: {
        nb: 'Du er reservert. Opplysningene om deg er slettet fra registrene, og nye opplysninger blir ikke lagret.',
        en: 'You have opted out. What was registered about you has been deleted, and nothing new will be stored.',
      },
    });
  });

  app.post<{ Body: { system?: string; value?: string; channel?: string } }>(
    '/api/reservations',
    { config: { access: ADMINS } },
    async (req, reply) => {
      const c = req.caller!;
      requireAllRegistries(c);
      const issues: any[] = [];
      const identity = identityFromIdentifier(
        platform.keys,
        req.body?.system ?? Object.keys(NIN_SYSTEMS)[0],
        String(req.body?.value ?? ''),
        'value',
        issues,
        { allowTestIdentities: platform.config.allowTestIdentities },
      );
      if (!identity)
        throw new RecordError(
          `Cannot register the reservation: ${issues.map((i) => i.diagnostics).join('; ') || 'give {"value": "<national identity number>"}'}.`,
          422,
        );
      const result = await platform.data.transaction(
        c,
        'reservation',
        (tx) => reserve(tx, identity, req.body?.channel ?? 'registry', platform.keys),
        { client: req.ip },
      );
      return reply.code(201).send({ reserved: true, ...result });
    },
  );

  auditRoutes(app as unknown as FastifyInstance, platform);
  innsynStatusRoutes(app as unknown as FastifyInstance, platform);
  patientRoutes(app as unknown as FastifyInstance, platform);
  codeListRoutes(app as unknown as FastifyInstance, platform);
  worklistRoutes(app as unknown as FastifyInstance, platform);
  explanationExportRoutes(app as unknown as FastifyInstance, platform);
  manualRoutes(app as unknown as FastifyInstance, platform);
  extractRequestRoutes(app as unknown as FastifyInstance, platform);
  adminRoutes(app as unknown as FastifyInstance, platform);
  personRoutes(app as unknown as FastifyInstance, platform);
  // The browser app (web/), with its pages served for any other path.
  await registerWebApp(app as unknown as FastifyInstance);

  return app;
}

/** A body that is not JSON: $validate cannot validate it (400), where findings about a resource are a 200. */
function isUnparsable(body: unknown): boolean {
  if (typeof body !== 'string') return true;
  try {
    JSON.parse(body);
    return false;
  } catch {
    return true;
  }
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}

/** Raw messages and reservations span every registry: only an admin of every registry may act on them. */
function requireAllRegistries(c: Caller): void {
  if (c.kind === 'user' && c.grants.some((g) => g.registry === '*' && (g.role === 'registry-admin' || g.role === 'platform-admin'))) return;
  throw new AccessDenied('This concerns every registry: it needs an admin role for all registries ("*").');
}

function positiveId(raw: string, what: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new RecordError(`"${raw}" is not a ${what} id: ${what} ids are positive whole numbers.`, 400);
  return id;
}

function pageParam(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RecordError(`${name} must be a whole number of 0 or more.`, 400);
  return n;
}
