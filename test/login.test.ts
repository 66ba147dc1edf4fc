// Login for people through the real OpenID Connect flow against the local provider: sessions,
// cookie flags, CSRF, role switching, logout, expiry, failed logins in the audit trail, rate limit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { setUser } from '../src/auth/sessions.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { account, login, startTestIdp, type TestIdp } from './helpers/login.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';
import { tamper } from './helpers/tamper.ts';

let t: TestPlatform;
let idp: TestIdp;
const patientNin = nin('1961-04-12', 'male');

beforeAll(async () => {
  idp = await startTestIdp([account('registrar'), account('nobody'), account('patient', { pid: patientNin, name: 'Per Pasient' })]);
  t = await testPlatform(idp.env);
  await setUser(t.platform.db.pool, {
    subject: 'sub-registrar',
    name: 'Test registrar',
    grants: [
      { registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO },
      { registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO },
    ],
  });
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(fracture({ nin: patientNin }))),
  });
});
afterAll(async () => {
  await t?.close();
  await idp?.idp.close();
});

const auditRows = async (action: string) =>
  (await t.platform.db.pool.query('SELECT actor, role, unit, object, outcome FROM audit_event WHERE action = $1 ORDER BY id', [action]))
    .rows;

describe('a unit user', () => {
  it('logs in through the provider and gets a session cookie that is HttpOnly, Secure, SameSite=Lax', async () => {
    const l = await login(t, 'registrar', { returnTo: '/worklist?x=1' });
    expect(l.callbackStatus).toBe(302);
    expect(l.location).toBe('/worklist?x=1');
    const session = l.setCookie.find((c) => c.startsWith('__Host-kvalreg_session='))!;
    expect(session).toBeDefined();
    expect(session).toMatch(/;\s*HttpOnly/i);
    expect(session).toMatch(/;\s*Secure/i);
    expect(session).toMatch(/;\s*SameSite=Lax/i);
    expect(session).toMatch(/;\s*Path=\//i);
    expect(session).not.toMatch(/Domain=/i);
    // Only a hash of the session id is stored.
    const id = session.split(';')[0].split('=')[1];
    const stored = (await t.platform.db.pool.query("SELECT encode(id_sha256, 'hex') AS h FROM user_session")).rows.map((r) => r.h);
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.join()).not.toContain(Buffer.from(id).toString('hex'));
    expect(await auditRows('login')).toContainEqual(
      expect.objectContaining({ actor: 'user:sub-registrar', role: 'unit-registrar', unit: SUS_ORTHO, outcome: 'ok' }),
    );
  });

  it('is the same caller as with a token: /api/me, and the existing routes within the active grant', async () => {
    const l = await login(t, 'registrar');
    const me = (await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: l.cookie } })).json();
    expect(me).toMatchObject({ via: 'session', subject: 'sub-registrar', active: { role: 'unit-registrar', unit: SUS_ORTHO } });
    expect(me.grants).toHaveLength(2);
    expect(me.active.unitName.nb).toMatch(/Ortopedisk avdeling, Stavanger/);
    const list = await t.app.inject({ method: 'GET', url: '/api/registries/fracture/worklist', headers: { cookie: l.cookie } });
    expect(list.statusCode).toBe(200);
    expect(list.json().items ?? list.json()).toBeDefined();
  });

  it('refuses a state-changing request on a session without the CSRF token, and accepts it with the token', async () => {
    const l = await login(t, 'registrar');
    const without = await t.app.inject({ method: 'POST', url: '/api/auxiliary-numbers', headers: { cookie: l.cookie } });
    expect(without.statusCode).toBe(403);
    expect(without.json().error).toMatch(/CSRF token/);
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/api/auxiliary-numbers',
      headers: { cookie: l.cookie, 'x-csrf-token': tamper(l.csrf) },
    });
    expect(wrong.statusCode).toBe(403);
    const ok = await t.app.inject({ method: 'POST', url: '/api/auxiliary-numbers', headers: { cookie: l.cookie, 'x-csrf-token': l.csrf } });
    expect(ok.statusCode).toBe(201);
    // Bearer-token calls carry no ambient credentials: no CSRF token needed.
    const bearer = await t.app.inject({
      method: 'POST',
      url: '/api/auxiliary-numbers',
      headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    });
    expect(bearer.statusCode).toBe(201);
  });

  it('switches role among their own grants only, audited', async () => {
    const l = await login(t, 'registrar');
    const h = { cookie: l.cookie, 'x-csrf-token': l.csrf };
    const noCsrf = await t.app.inject({
      method: 'POST',
      url: '/auth/role',
      headers: { cookie: l.cookie },
      payload: { registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO },
    });
    expect(noCsrf.statusCode).toBe(403);
    const sw = await t.app.inject({
      method: 'POST',
      url: '/auth/role',
      headers: h,
      payload: { registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO },
    });
    expect(sw.statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: l.cookie } })).json().active).toMatchObject({
      role: 'unit-reader',
      unit: OTHER_ORTHO,
    });
    // Now a reader: writing is refused, reading other units' cases too.
    expect((await t.app.inject({ method: 'POST', url: '/api/auxiliary-numbers', headers: h })).statusCode).toBe(403);
    const foreign = await t.app.inject({
      method: 'POST',
      url: '/auth/role',
      headers: h,
      payload: { registry: 'fracture', role: 'unit-registrar', unit: SUS_HOSPITAL },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error).toMatch(/no grant/);
    const events = await auditRows('role-switch');
    expect(events).toContainEqual(
      expect.objectContaining({ actor: 'user:sub-registrar', role: 'unit-reader', unit: OTHER_ORTHO, outcome: 'ok' }),
    );
    expect(events).toContainEqual(expect.objectContaining({ outcome: 'denied', object: `fracture:unit-registrar:${SUS_HOSPITAL}` }));
  });

  it('logs out: the session ends here and the provider logout URL is given', async () => {
    const l = await login(t, 'registrar');
    expect((await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: l.cookie } })).statusCode).toBe(403); // CSRF
    const out = await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: l.cookie, 'x-csrf-token': l.csrf } });
    expect(out.statusCode).toBe(200);
    expect(out.json().providerLogoutUrl).toMatch(new RegExp(`^${idp.idp.issuer}/session/end\\?.*id_token_hint=`));
    expect(String(out.headers['set-cookie'])).toMatch(/__Host-kvalreg_session=;/);
    const after = await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: l.cookie } });
    expect(after.statusCode).toBe(401);
    expect(await auditRows('logout')).toContainEqual(expect.objectContaining({ actor: 'user:sub-registrar', outcome: 'ok' }));
  });

  it('refuses an idle or too old session, saying it expired', async () => {
    const idle = await login(t, 'registrar');
    const old = await login(t, 'registrar');
    const db = t.platform.db.pool;
    const sessions = (await db.query('SELECT id_sha256 FROM user_session ORDER BY created_at DESC LIMIT 2')).rows;
    await db.query("UPDATE user_session SET last_seen_at = now() - interval '31 minutes' WHERE id_sha256 = $1", [sessions[1].id_sha256]);
    await db.query("UPDATE user_session SET expires_at = now() - interval '1 second' WHERE id_sha256 = $1", [sessions[0].id_sha256]);
    for (const l of [idle, old]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/registries/fracture/worklist', headers: { cookie: l.cookie } });
      expect(res.statusCode).toBe(401);
      expect(res!.json().error).toMatch(/session has expired/);
    }
    expect(
      (await db.query('SELECT count(*)::int AS n FROM user_session WHERE id_sha256 = ANY($1)', [sessions.map((s) => s.id_sha256)])).rows[0]
        .n,
    ).toBe(0);
  });

  it('never redirects to another site after login', async () => {
    const l = await login(t, 'registrar', { returnTo: '//evil.example/x' });
    expect(l.location).toBe('/');
  });
});

describe('failed logins', () => {
  it('audits a login cancelled at the provider', async () => {
    const l = await login(t, 'registrar', { cancel: true });
    expect(l.callbackStatus).toBe(403);
    expect(l.cookie).toBe('');
    expect(await auditRows('login')).toContainEqual(
      expect.objectContaining({ actor: 'anonymous', object: 'provider:access_denied', outcome: 'denied' }),
    );
  });

  it('audits a callback whose state does not match', async () => {
    const l = await login(t, 'registrar', { tamperState: true });
    expect(l.callbackStatus).toBe(400);
    expect(l.cookie).toBe('');
    expect((await auditRows('login')).filter((r) => r.outcome === 'denied' && String(r.object).startsWith('callback:'))).not.toHaveLength(
      0,
    );
  });

  it('audits a person with no grants and no identity number, and tells them what to do', async () => {
    const l = await login(t, 'nobody');
    expect(l.callbackStatus).toBe(403);
    expect(l.cookie).toBe('');
    expect(await auditRows('login')).toContainEqual(
      expect.objectContaining({ actor: 'user:sub-nobody', object: 'no-grants', outcome: 'denied' }),
    );
  });

  it('audits a callback without a login in progress', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/auth/callback?code=x&state=y' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toMatch(/No login was in progress/);
    expect(await auditRows('login')).toContainEqual(expect.objectContaining({ object: 'no-login-in-progress', outcome: 'denied' }));
  });
});

describe('a patient', () => {
  it('logs in with the pid claim, sees their own registration, and can opt out with the CSRF token', async () => {
    const l = await login(t, 'patient');
    const me = (await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: l.cookie } })).json();
    expect(me).toMatchObject({ patient: true, active: { role: 'patient' }, grants: [{ role: 'patient' }] });
    const view = (await t.app.inject({ method: 'GET', url: '/api/innsyn', headers: { cookie: l.cookie } })).json();
    expect(view.registered).toBe(true);
    expect(view.registries[0].cases).toHaveLength(1);
    expect(JSON.stringify(view)).not.toContain(patientNin);
    expect((await t.app.inject({ method: 'POST', url: '/api/innsyn/reservation', headers: { cookie: l.cookie } })).statusCode).toBe(403);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/innsyn/reservation',
      headers: { cookie: l.cookie, 'x-csrf-token': l.csrf },
    });
    expect(res.statusCode).toBe(201);
    expect((await t.app.inject({ method: 'GET', url: '/api/innsyn', headers: { cookie: l.cookie } })).json().registered).toBe(false);
    // Patients cannot reach unit routes.
    expect(
      (await t.app.inject({ method: 'GET', url: '/api/registries/fracture/worklist', headers: { cookie: l.cookie } })).statusCode,
    ).toBe(403);
  });
});

describe('rate limit', () => {
  it('limits login attempts per address', async () => {
    const limited = await testPlatform({ ...idp.env, KVALREG_LOGIN_RATE_LIMIT: '3' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await limited.app.inject({ method: 'GET', url: '/auth/login' })).statusCode);
      expect(statuses).toEqual([302, 302, 302, 429, 429]);
      // The callback has its own budget of the same size.
      const callbacks: number[] = [];
      let res;
      for (let i = 0; i < 4; i++)
        callbacks.push((res = await limited.app.inject({ method: 'GET', url: '/auth/callback?code=x&state=y' })).statusCode);
      expect(callbacks).toEqual([400, 400, 400, 429]);
      expect(res!.json().error).toMatch(/Too many requests.*Retry after/);
    } finally {
      await limited.close();
    }
  });
});
