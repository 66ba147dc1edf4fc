// Two issuers, as in production: HelseID for personnel (/auth/login) and an ID-porten style provider
// for patients (/auth/patient/login), both local providers with HelseID's profile (private_key_jwt,
// PAR, DPoP). A patient login is a patient only: the same `sub` as a person with grants at the
// personnel provider gets none of them, a login without an identity number is refused, and a login
// begun at one provider cannot be completed at the other's callback.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { clientKeyPair, startLocalProvider, type LocalProvider } from '../src/auth/local-idp.ts';
import { setUser } from '../src/auth/sessions.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { account, login, TEST_SITE } from './helpers/login.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let helseid: LocalProvider;
let idporten: LocalProvider;
let t: TestPlatform;
const patientNin = nin('1972-06-14', 'female');

beforeAll(async () => {
  const staff = await clientKeyPair();
  const citizen = await clientKeyPair();
  helseid = await startLocalProvider({
    port: 0,
    host: '127.0.0.1',
    accounts: [account('registrar', { subject: 'shared-sub' })],
    clients: () => [
      {
        clientId: 'kvalreg-staff',
        jwks: { keys: [staff.publicJwk] },
        par: true,
        dpop: true,
        redirectUris: [`${TEST_SITE}/auth/callback`],
        postLogoutRedirectUris: [`${TEST_SITE}/`],
      },
    ],
  });
  // ID-porten gives the identity number as "pid" with every login (no HelseID pid scope).
  idporten = await startLocalProvider({
    port: 0,
    host: '127.0.0.1',
    pidClaim: 'pid',
    accounts: [
      account('pasient', { pid: patientNin }),
      account('samesub', { subject: 'shared-sub', pid: nin('1980-01-02', 'male') }),
      account('nopid'),
    ],
    clients: () => [
      {
        clientId: 'kvalreg-citizen',
        jwks: { keys: [citizen.publicJwk] },
        par: true,
        dpop: true,
        redirectUris: [`${TEST_SITE}/auth/patient/callback`],
        postLogoutRedirectUris: [`${TEST_SITE}/`],
      },
    ],
  });
  t = await testPlatform({
    KVALREG_OIDC_ISSUER: helseid.issuer,
    KVALREG_OIDC_CLIENT_ID: 'kvalreg-staff',
    KVALREG_OIDC_CLIENT_KEY: JSON.stringify(staff.privateJwk),
    KVALREG_OIDC_PAR: '1',
    KVALREG_OIDC_DPOP: '1',
    KVALREG_OIDC_REDIRECT_URL: `${TEST_SITE}/auth/callback`,
    KVALREG_OIDC_ALLOW_HTTP: '1',
    KVALREG_PATIENT_OIDC_ISSUER: idporten.issuer,
    KVALREG_PATIENT_OIDC_CLIENT_ID: 'kvalreg-citizen',
    KVALREG_PATIENT_OIDC_CLIENT_KEY: JSON.stringify(citizen.privateJwk),
    KVALREG_PATIENT_OIDC_PAR: '1',
    KVALREG_PATIENT_OIDC_DPOP: '1',
    KVALREG_PATIENT_OIDC_REDIRECT_URL: `${TEST_SITE}/auth/patient/callback`,
    KVALREG_PATIENT_OIDC_ALLOW_HTTP: '1',
  });
  await setUser(t.platform.db.pool, {
    subject: 'shared-sub',
    name: 'Test registrar',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
  });
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(fracture({ nin: patientNin }))),
  });
}, 120_000);
afterAll(async () => {
  await t?.close();
  await helseid?.close();
  await idporten?.close();
});

const asPatient = { loginPath: '/auth/patient/login' };
const me = async (cookie: string) => (await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie } })).json();

it("logs a patient in at the patients' provider, as a patient who sees their own registration", async () => {
  const l = await login(t, 'pasient', asPatient);
  expect(l.callbackStatus).toBe(302);
  const who = await me(l.cookie);
  expect(who).toMatchObject({ via: 'session', subject: 'patient:sub-pasient', patient: true, active: { role: 'patient' } });
  expect(who.grants).toHaveLength(1);
  const innsyn = await t.app.inject({ method: 'GET', url: '/api/innsyn', headers: { cookie: l.cookie } });
  expect(innsyn.statusCode).toBe(200);
  expect(JSON.stringify(innsyn.json())).toMatch(/fracture/);
  // Logging out sends the browser to the patients' provider, not personnel's.
  const out = await t.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie: l.cookie, 'x-csrf-token': l.csrf } });
  expect(out.json().providerLogoutUrl).toMatch(new RegExp(`^${idporten.issuer}/`));
});

it('gives a patient login none of the grants of the same sub at the personnel provider', async () => {
  const staff = await login(t, 'registrar');
  expect((await me(staff.cookie)).active).toMatchObject({ role: 'unit-registrar', unit: SUS_ORTHO });
  const l = await login(t, 'samesub', asPatient);
  const who = await me(l.cookie);
  expect(who.subject).toBe('patient:shared-sub');
  expect(who.grants.map((g: { role: string }) => g.role)).toEqual(['patient']);
  const sw = await t.app.inject({
    method: 'POST',
    url: '/auth/role',
    headers: { cookie: l.cookie, 'x-csrf-token': l.csrf },
    payload: { registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO },
  });
  expect(sw.statusCode).toBe(403);
  expect((await t.app.inject({ method: 'GET', url: '/api/registries/fracture/worklist', headers: { cookie: l.cookie } })).statusCode).toBe(
    403,
  );
});

it('refuses a patient login without an identity number, and audits it', async () => {
  const l = await login(t, 'nopid', asPatient);
  expect(l.cookie).toBe('');
  expect(l.callbackStatus).toBe(403);
  expect(l.callbackBody).toMatch(/national identity number/);
  const rows = (await t.platform.db.pool.query("SELECT actor, object FROM audit_event WHERE action = 'login' AND outcome = 'denied'")).rows;
  expect(rows).toContainEqual({ actor: 'user:patient:sub-nopid', object: 'no-pid' });
});

it("does not complete a login begun at the patients' provider at personnel's callback", async () => {
  const l = await login(t, 'pasient', { ...asPatient, callbackPath: '/auth/callback' });
  expect(l.cookie).toBe('');
  expect(l.callbackStatus).toBe(400);
  expect(l.callbackBody).toMatch(/No login was in progress/);
});
