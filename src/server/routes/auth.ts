// Login for people: the routes of the OpenID Connect flow, the session cookie, role switching,
// logout, and who is logged in. Sessions resolve to the same Caller as bearer tokens (app.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { writeEvents } from '../../audit/trail.ts';
import type { Caller, Grant } from '../../access/caller.ts';
import { LoginError, type OidcLogin } from '../../auth/oidc.ts';
import { availableGrants, type Sessions } from '../../auth/sessions.ts';
import { ninHash } from '../../identity/crypto.ts';
import { parseNin } from '../../identity/nin.ts';
import type { Platform } from '../../platform.ts';
import { ANY_CALLER, PEOPLE, PUBLIC } from '../access-policy.ts';
import { cookieNames, PATIENT_SUBJECT_PREFIX } from '../auth.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export interface AuthRouteOptions extends RouteOptions {
  sessions: Sessions;
  /** Personnel's provider (HelseID), when login is configured. */
  login: OidcLogin | undefined;
  /** Patients' own provider (ID-porten style), when configured. */
  patientLogin?: OidcLogin;
}

export async function authRoutes(app: FastifyInstance, { platform, sessions, login, patientLogin }: AuthRouteOptions): Promise<void> {
  const secure = !platform.config.session.insecureCookies;
  const names = cookieNames(secure);
  const cookie = { path: '/', httpOnly: true, secure, sameSite: 'lax' as const };
  const loginLimit = platform.config.loginRateLimitPerMinute || 1e12;
  const rateLimit = { max: loginLimit, timeWindow: 60_000, keyGenerator: (req: FastifyRequest) => `login:${req.ip}` };
  const audit = (
    req: FastifyRequest,
    e: { actor: string; role?: string | null; unit?: string | null; action: string; object: string; outcome: 'ok' | 'denied' },
  ) =>
    writeEvents(platform.db.pool, [
      {
        actor: e.actor,
        role: e.role ?? null,
        unit: e.unit ?? null,
        personId: null,
        action: e.action,
        object: e.object,
        purpose: 'authentication',
        outcome: e.outcome,
        client: req.ip,
      },
    ]).catch((err) => req.log.error({ err }, 'could not write an authentication event to the audit trail'));

  const requireLogin = () => {
    if (!login)
      throw new KvalregError(
        'not-found',
        'Login is not configured on this server: set KVALREG_OIDC_ISSUER and the other KVALREG_OIDC_* settings (docs/login.md), or run `npm start` for the local login service.',
      );
    return login;
  };

  // Step 1: to the provider, with state, nonce and a PKCE challenge; they are kept server-side
  // under a short-lived cookie, so the callback can check them.
  // [patient-issuer] The same two steps for personnel (HelseID, /auth/login) and, when configured,
  // for patients at their own provider (ID-porten style, /auth/patient/login), each with its own
  // flow cookie, so a login begun at one provider cannot be completed at the other.
  const flowRoutes = (paths: { login: string; callback: string; flowCookie: string }, provider: () => OidcLogin, patientsOnly: boolean) => {
    app.get<{ Querystring: { returnTo?: string } }>(paths.login, { config: { access: PUBLIC, rateLimit } }, async (req, reply) => {
      const l = provider();
      const returnTo = safeReturnTo(req.query.returnTo);
      let begun;
      try {
        begun = await l.begin();
      } catch (err) {
        if (err instanceof LoginError) return failure(reply, 502, err.message);
        throw err;
      }
      const flow = await sessions.startFlow({ state: begun.state, nonce: begun.nonce, codeVerifier: begun.codeVerifier, returnTo });
      reply.setCookie(paths.flowCookie, flow, { ...cookie, maxAge: 600 });
      return reply.redirect(begun.url, 302);
    });

    // Step 2: back from the provider. Every way this can fail is audited as a failed login.
    app.get(paths.callback, { config: { access: PUBLIC, rateLimit } }, async (req, reply) => {
      const l = provider();
      reply.clearCookie(paths.flowCookie, { path: '/' });
      const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
      const flow = await sessions.takeFlow(req.cookies[paths.flowCookie]);
      if (!flow) {
        await audit(req, { actor: 'anonymous', action: 'login', object: 'no-login-in-progress', outcome: 'denied' });
        return failure(reply, 400, 'No login was in progress in this browser, or it took more than ten minutes. Start the login again.');
      }
      let identity;
      try {
        identity = await l.complete(query, flow);
      } catch (err) {
        if (!(err instanceof LoginError)) throw err;
        await audit(req, { actor: 'anonymous', action: 'login', object: err.reason, outcome: 'denied' });
        return failure(reply, err.reason.startsWith('provider:access_denied') ? 403 : 400, `${err.message} Start the login again.`);
      }
      if (patientsOnly) {
        identity = { ...identity, subject: `${PATIENT_SUBJECT_PREFIX}${identity.subject}` };
      } else if (identity.subject.startsWith(PATIENT_SUBJECT_PREFIX)) {
        await audit(req, { actor: 'anonymous', action: 'login', object: 'reserved-subject', outcome: 'denied' });
        return failure(
          reply,
          403,
          "This login cannot be used here: its subject has the form reserved for patients' logins. Contact the registry.",
        );
      }
      let pidHash: Buffer | null = null;
      if (identity.pid) {
        const parsed = parseNin(identity.pid);
        if (parsed.ok) pidHash = ninHash(platform.keys, parsed.nin);
        else req.log.warn({ subject: identity.subject }, 'the pid claim is not a valid identity number; no patient role');
      }
      if (patientsOnly && !pidHash) {
        await audit(req, { actor: `user:${identity.subject}`, action: 'login', object: 'no-pid', outcome: 'denied' });
        return failure(
          reply,
          403,
          "The login service did not give your national identity number, which a patient's login needs. Log in again with a method that gives it (e.g. BankID, MinID).",
        );
      }
      const user = await sessions.upsertUser(identity.subject, identity.name, pidHash);
      // A patient login is a patient only, whatever grants someone may have given its subject.
      const grants = patientsOnly ? availableGrants({ grants: [], pidHash }) : availableGrants(user);
      if (!grants.length) {
        await audit(req, { actor: `user:${identity.subject}`, action: 'login', object: 'no-grants', outcome: 'denied' });
        return failure(
          reply,
          403,
          `You are logged in as ${identity.name}, but you have no role in any registry here yet. Ask the registry's secretariat to grant you access.`,
        );
      }
      const active = grants[0];
      const sid = await sessions.create(user, active, identity.idToken, req.ip);
      await audit(req, {
        actor: `user:${identity.subject}`,
        role: active.role,
        unit: active.unit,
        action: 'login',
        object: 'session',
        outcome: 'ok',
      });
      reply.setCookie(names.session, sid, cookie);
      return reply.redirect(flow.returnTo, 302);
    });
  };
  flowRoutes({ login: '/auth/login', callback: '/auth/callback', flowCookie: names.flow }, requireLogin, false);
  if (patientLogin)
    flowRoutes(
      { login: '/auth/patient/login', callback: '/auth/patient/callback', flowCookie: `${names.flow}_patient` },
      () => patientLogin,
      true,
    );

  // Logout: the session ends here; the browser is then sent to the provider's logout, if it has one.
  app.post('/auth/logout', { config: { access: PUBLIC } }, async (req, reply) => {
    reply.clearCookie(names.session, { path: '/' });
    const id = req.session?.id ?? req.cookies[names.session];
    if (!id) return { loggedOut: true, providerLogoutUrl: null };
    const ended = await sessions.end(id);
    if (ended.ended && req.session) {
      const c = req.session.resolved;
      await audit(req, {
        actor: `user:${c.user.subject}`,
        role: c.active.role,
        unit: c.active.unit,
        action: 'logout',
        object: 'session',
        outcome: 'ok',
      });
    }
    // A patient's session ends at the patients' provider, everyone else's at personnel's.
    const provider = req.session?.resolved.user.subject.startsWith(PATIENT_SUBJECT_PREFIX) && patientLogin ? patientLogin : login;
    return { loggedOut: true, providerLogoutUrl: provider ? await provider.logoutUrl(ended.idToken) : null };
  });

  // Role switching: a person with several grants chooses the one they act in.
  app.post<{ Body: { registry?: string; role?: string; unit?: string } }>('/auth/role', { config: { access: PEOPLE } }, async (req) => {
    if (!req.session)
      throw new KvalregError('conflict', 'Only a browser session has an active role to switch; a token always acts with all its grants.');
    if (req.session.resolved.user.subject.startsWith(PATIENT_SUBJECT_PREFIX))
      throw new KvalregError(
        'forbidden',
        "A patient's login (at the patients' login service) acts as the patient only; log in at /auth/login to act in a role.",
      );
    const want = {
      registry: String(req.body?.registry ?? ''),
      role: String(req.body?.role ?? ''),
      unit: String(req.body?.unit ?? ''),
    } as Grant;
    const s = req.session.resolved;
    if (!(await sessions.switchTo(req.session.id, want, s.grants))) {
      await audit(req, {
        actor: `user:${s.user.subject}`,
        role: want.role,
        unit: want.unit,
        action: 'role-switch',
        object: `${want.registry}:${want.role}:${want.unit}`,
        outcome: 'denied',
      });
      throw new KvalregError(
        'forbidden',
        `You have no grant ${want.registry}:${want.role}:${want.unit}. Choose one of: ${s.grants.map((g) => `${g.registry}:${g.role}:${g.unit}`).join(', ')}.`,
      );
    }
    await audit(req, {
      actor: `user:${s.user.subject}`,
      role: want.role,
      unit: want.unit,
      action: 'role-switch',
      object: `${want.registry}:${want.role}:${want.unit}`,
      outcome: 'ok',
    });
    return { active: describeGrant(platform, want) };
  });

  // Who is logged in, what they may act as, and the CSRF token for their state-changing requests.
  app.get('/api/me', { config: { access: ANY_CALLER } }, async (req) => {
    const c = req.caller as Caller;
    if (req.session) {
      const s = req.session.resolved;
      return {
        kind: 'user',
        via: 'session',
        subject: s.user.subject,
        name: s.user.name,
        patient: !!s.user.pidHash,
        active: describeGrant(platform, s.active),
        grants: s.grants.map((g) => describeGrant(platform, g)),
        csrfToken: s.csrfToken,
        expiresAt: s.expiresAt,
        idleMinutes: platform.config.session.idleMinutes,
      };
    }
    if (c.kind === 'user')
      return {
        kind: 'user',
        via: 'token',
        subject: c.user,
        name: c.name,
        patient: !!c.personHash,
        active: null,
        grants: c.grants.map((g) => describeGrant(platform, g)),
      };
    if (c.kind === 'system') return { kind: 'system', via: 'token', sender: c.sender, name: c.name };
    return { kind: c.kind };
  });
}

/** A grant with words for people: the registry's title and the unit's name, in both languages. */
export function describeGrant(platform: Platform, g: Grant) {
  const unit = platform.units.get(g.unit);
  const hospital = unit && unit.level === 'department' ? platform.units.ancestorAt(g.unit, 'hospital') : undefined;
  const registry = g.registry === '*' ? undefined : platform.registry(g.registry);
  return {
    ...g,
    registryTitle:
      g.registry === '*'
        ? { nb: 'Alle registre', en: 'All registries' }
        : { nb: registry?.meta.title.nb ?? g.registry, en: registry?.meta.title.en ?? g.registry },
    unitName: {
      nb: unit ? [unit.nameNb, hospital?.nameNb].filter(Boolean).join(', ') : g.unit,
      en: unit
        ? [unit.nameEn ?? unit.nameNb, hospital ? (hospital.nameEn ?? hospital.nameNb) : undefined].filter(Boolean).join(', ')
        : g.unit,
    },
  };
}

/** Only a path on this site: no other host, no scheme, no protocol-relative URL. */
function safeReturnTo(raw: string | undefined): string {
  if (!raw || !/^\/(?![/\\])[^\s]*$/.test(raw) || raw.startsWith('/auth/')) return '/';
  return raw;
}

function failure(reply: FastifyReply, status: number, message: string) {
  const esc = message.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
  return reply.code(status).type('text/html; charset=utf-8')
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Innloggingen mislyktes / Login failed</title></head>
<body><main><h1>Innloggingen mislyktes / Login failed</h1><p>${esc}</p><p><a href="/auth/login">Logg inn på nytt / Log in again</a> · <a href="/">Til forsiden / Home</a></p></main></body></html>`);
}
