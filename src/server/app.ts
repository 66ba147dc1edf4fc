// The HTTP app's wiring: plugins, the hooks every request passes (request id, caller, rate limit,
// access policy, CSRF, input checks), the error handler, and the route plugins (routes/), which
// are thin routes over the modules. Only this folder knows HTTP.
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance } from 'fastify';
import { TokenAuthenticator } from '../auth/tokens.ts';
import type { Platform } from '../platform.ts';
import { sendError } from './error-answer.ts';
import { permits, requirePolicies } from './access-policy.ts';
import { writeEvents } from '../audit/trail.ts';
import { callerLabel } from '../access/caller.ts';
import { OidcLogin } from '../auth/oidc.ts';
import { Sessions } from '../auth/sessions.ts';
import type { OidcSettings } from '../config.ts';
import { cookieNames, CSRF_HEADER, needsCsrf } from './auth.ts';
import { isWebAppRequest, rateLimitKey, rateLimitMax, rateLimitMessage } from './rate-limits.ts';
import { checkBodyInput, checkUrlInput, fhirContentTypeProblem } from './input.ts';
import { logSerializers } from '../log/redact.ts';
import { createMetrics, observe, requestId } from './metrics.ts';
import { adminRoutes } from './routes/admin.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { auxiliaryNumberRoutes } from './routes/auxiliary-numbers.ts';
import { caseRoutes } from './routes/cases.ts';
import { codeListRoutes } from './routes/codelists.ts';
import { explanationExportRoutes } from './routes/explanation-export.ts';
import { extractRequestRoutes } from './routes/extract-requests.ts';
import { extractRoutes } from './routes/extracts.ts';
import { fhirRoutes } from './routes/fhir.ts';
import { healthRoutes } from './routes/health.ts';
import { inboxRoutes } from './routes/inbox.ts';
import { indicatorRoutes } from './routes/indicators.ts';
import { innsynRoutes } from './routes/innsyn.ts';
import { manualRoutes } from './routes/manual.ts';
import { metadataRoutes } from './routes/metadata.ts';
import { patientRoutes } from './routes/patients.ts';
import { personRoutes } from './routes/persons.ts';
import { promRoutes } from './routes/prom.ts';
import { publicRoutes } from './routes/public.ts';
import { qualityRoutes } from './routes/quality.ts';
import { registryRoutes } from './routes/registries.ts';
import { reportRoutes } from './routes/reports.ts';
import { reservationRoutes } from './routes/reservations.ts';
import { screeningRoutes } from './routes/screening.ts';
import { webAppRoutes } from './routes/web-app.ts';
import { webDataRoutes } from './routes/web-data.ts';
import { worklistRoutes } from './routes/worklist.ts';
import { KvalregError } from '../errors.ts';

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

  // The URL first, before anything records it (the access check audits a refused path): no
  // repeated query parameter, no text the database cannot store, no identity number (server/input.ts).
  app.addHook('onRequest', async (req, reply) => {
    const problem = checkUrlInput(req);
    if (problem) return sendError(req, reply, new KvalregError('invalid', problem.message, { location: problem.location }));
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
      new KvalregError('throttled', rateLimitMessage(ctx.max, ctx.after), {
        code: 'rate.limited',
        params: { max: ctx.max, after: ctx.after },
      }),
  });

  // FHIR bodies are kept as the exact text received: that text is what the inbox stores.
  app.addContentTypeParser([FHIR_JSON, 'application/json', 'application/x-ndjson'], { parseAs: 'string' }, (req, body, done) => {
    if (req.url.startsWith('/fhir')) return done(null, body);
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string));
    } catch {
      done(new KvalregError('invalid', 'The request body is not valid JSON.'), undefined);
    }
  });

  // CSV bodies (a screening's admissions, an NPR extract for coverage) are read as text by their route.
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  // Every error, wherever raised, is answered here: an OperationOutcome on /fhir, a JSON problem
  // elsewhere, the status from the error's kind (server/error-answer.ts, src/errors.ts).
  app.setErrorHandler((err, req, reply) => sendError(req, reply, err));

  const routes = requirePolicies(app as unknown as Pick<FastifyInstance, 'addHook'>);
  app.decorate('routeTable', routes);

  // Who is calling, and may they use this route at all? Decided after the rate limit (so refused
  // guesses count against it) and before the body is parsed.
  app.addHook('preParsing', async (req, reply) => {
    const access = req.routeOptions.config?.access;
    const refuse = (kind: 'unauthenticated' | 'forbidden', msg: string, code: string) =>
      sendError(req, reply, new KvalregError(kind, msg, { code }));
    // A browser sends its session cookie with any request, also one another site makes it send:
    // a state-changing request on a session must carry the session's CSRF token (from GET /api/me).
    if (needsCsrf(req) && !sessions.checkCsrf(req.session!.id, headerValue(req.headers[CSRF_HEADER]))) {
      return refuse(
        'forbidden',
        `Missing or wrong CSRF token: a request that changes something must send the header X-CSRF-Token with the csrfToken from GET /api/me. Reload the page and try again.`,
        'auth.csrf',
      );
    }
    if (!access || 'public' in access) return;
    const c = req.caller;
    if (!c) {
      if (req.tokenProblem)
        return refuse(
          'unauthenticated',
          `The bearer token was ${req.tokenProblem}. Ask the registry for a new token (kvalreg token).`,
          'auth.required',
        );
      if (req.tokenRefusal) {
        reply.header('www-authenticate', 'DPoP error="invalid_dpop_proof", algs="ES256 PS256 RS256"');
        return refuse('unauthenticated', req.tokenRefusal, 'auth.required');
      }
      if (req.sessionProblem === 'expired')
        return refuse(
          'unauthenticated',
          'Your session has expired (it was idle too long, or reached its time limit). Log in again.',
          'auth.expired',
        );
      return refuse(
        'unauthenticated',
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
      return refuse('forbidden', `This needs one of the roles ${access.callers.join(', ')}; your token does not have it.`, 'auth.role');
    }
  });

  // A FHIR interaction takes FHIR JSON only: a text/plain body, or one without a content type, is
  // refused before it is read (and never stored as a message).
  app.addHook('preParsing', async (req, reply) => {
    if (req.method !== 'POST' || !req.url.startsWith('/fhir')) return;
    const problem = fhirContentTypeProblem(headerValue(req.headers['content-type']));
    if (problem) return sendError(req, reply, new KvalregError('unsupported', problem));
  });
  // Every route's JSON (or text) body: no text the database cannot store (server/input.ts).
  // FHIR bodies are the capture pipeline's to check (it answers with the element's path).
  app.addHook('preValidation', async (req, reply) => {
    if (req.url.startsWith('/fhir')) return;
    const problem = checkBodyInput(req);
    if (problem) return sendError(req, reply, new KvalregError('invalid', problem.message, { location: problem.location }));
  });

  // The routes, one plugin per area (routes/). Each is its own Fastify context: the hooks above
  // (caller, rate limit, access policy, CSRF, input checks), the decorators and the error handler
  // reach into it. Registered in turn and awaited, so the route table is complete when
  // buildServer returns.
  const root = app as unknown as FastifyInstance;
  const routeOpts = { platform };
  await root.register(healthRoutes, routeOpts);
  await root.register(indicatorRoutes, routeOpts);
  await root.register(screeningRoutes, routeOpts);
  await root.register(webDataRoutes, routeOpts);
  await root.register(authRoutes, { platform, sessions, login, patientLogin });
  await root.register(reportRoutes, routeOpts);
  await root.register(publicRoutes, routeOpts);
  await root.register(promRoutes, routeOpts);
  await root.register(qualityRoutes, routeOpts);
  await root.register(metadataRoutes, routeOpts);
  // [conformance] Capture, the CapabilityStatement (from the route table), $validate, the
  // extensions' StructureDefinitions, and OperationOutcomes for what does not exist (routes/fhir.ts).
  await root.register(fhirRoutes, routeOpts);
  await root.register(registryRoutes, routeOpts);
  await root.register(caseRoutes, routeOpts);
  await root.register(inboxRoutes, routeOpts);
  await root.register(auxiliaryNumberRoutes, routeOpts);
  await root.register(extractRoutes, routeOpts);
  await root.register(innsynRoutes, routeOpts);
  await root.register(reservationRoutes, routeOpts);
  await root.register(auditRoutes, routeOpts);
  await root.register(patientRoutes, routeOpts);
  await root.register(codeListRoutes, routeOpts);
  await root.register(worklistRoutes, routeOpts);
  await root.register(explanationExportRoutes, routeOpts);
  await root.register(manualRoutes, routeOpts);
  await root.register(extractRequestRoutes, routeOpts);
  await root.register(adminRoutes, routeOpts);
  await root.register(personRoutes, routeOpts);
  // The browser app (web/), with its pages served for any other path.
  await root.register(webAppRoutes, {});

  return app;
}

function headerValue(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
