// Logging in through the real authorization code flow against the local OpenID provider, as a
// browser would: the platform's /auth/login, the provider's login page and form, the redirect
// back to /auth/callback. No step is skipped or faked.
import crypto from 'node:crypto';
import net from 'node:net';
import { startLocalProvider, type LocalAccount, type LocalProvider } from '../../src/auth/local-idp.ts';
import type { TestPlatform } from './platform.ts';

export const TEST_SITE = 'http://kvalreg.test';

export interface TestIdp {
  idp: LocalProvider;
  env: NodeJS.ProcessEnv;
}

/** A local provider whose client redirects to `site` (default: a name only app.inject sees). */
export async function startTestIdp(
  accounts: LocalAccount[],
  o: { site?: string; loginRateLimitPerMinute?: number } = {},
): Promise<TestIdp> {
  const site = o.site ?? TEST_SITE;
  const clientSecret = crypto.randomBytes(16).toString('hex');
  const idp = await startLocalProvider({
    port: 0,
    host: '127.0.0.1',
    accounts,
    loginRateLimitPerMinute: o.loginRateLimitPerMinute,
    clients: () => [
      { clientId: 'kvalreg-test', clientSecret, redirectUris: [`${site}/auth/callback`], postLogoutRedirectUris: [`${site}/`] },
    ],
  });
  return {
    idp,
    env: {
      KVALREG_OIDC_ISSUER: idp.issuer,
      KVALREG_OIDC_CLIENT_ID: 'kvalreg-test',
      KVALREG_OIDC_CLIENT_SECRET: clientSecret,
      KVALREG_OIDC_REDIRECT_URL: `${site}/auth/callback`,
      KVALREG_OIDC_ALLOW_HTTP: '1',
    },
  };
}

export const account = (username: string, extra: Partial<LocalAccount> = {}): LocalAccount => ({
  subject: `sub-${username}`,
  username,
  password: 'demo',
  name: `Test ${username}`,
  ...extra,
});

/** A free port on the loopback interface. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Cookies of one host, as a browser keeps them (name → value). */
class Jar {
  readonly cookies = new Map<string, string>();
  take(setCookie: string | string[] | undefined | null) {
    for (const c of ([] as string[]).concat(setCookie ?? [])) {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export interface Login {
  /** The session cookie, as a Cookie header. */
  cookie: string;
  csrf: string;
  /** Every Set-Cookie header of the callback (for checking the flags). */
  setCookie: string[];
  callbackStatus: number;
  /** The callback's body (a refusal's page says why). */
  callbackBody: string;
  location: string | undefined;
}

/** Goes through the whole flow; `at` decides what the person does at the provider. */
export async function login(
  t: TestPlatform,
  username: string,
  o: { password?: string; returnTo?: string; cancel?: boolean; tamperState?: boolean; loginPath?: string; callbackPath?: string } = {},
): Promise<Login> {
  const site = new Jar();
  const start = await t.app.inject({
    method: 'GET',
    url: `${o.loginPath ?? '/auth/login'}?returnTo=${encodeURIComponent(o.returnTo ?? '/')}`,
  });
  if (start.statusCode !== 302) throw new Error(`/auth/login answered ${start.statusCode}: ${start.body}`);
  site.take(start.headers['set-cookie']);
  const provider = new Jar();
  const get = async (url: string) => {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: provider.header() } });
    provider.take(res.headers.getSetCookie());
    return res;
  };
  // Follow the provider's redirects until it shows its login page.
  let res = await get(String(start.headers.location));
  let url = String(start.headers.location);
  while (res.status >= 300 && res.status < 400) {
    url = new URL(res.headers.get('location')!, url).href;
    res = await get(url);
  }
  if (res.status !== 200 || !url.includes('/interaction/'))
    throw new Error(`expected the provider's login page, got ${res.status} at ${url}`);
  const action = new URL(url + (o.cancel ? '/abort' : '/login'));
  res = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams({ username, password: o.password ?? 'demo' }),
    headers: { cookie: provider.header(), 'content-type': 'application/x-www-form-urlencoded' },
  });
  provider.take(res.headers.getSetCookie());
  if (res.status !== 303) throw new Error(`the provider refused the login (${res.status})`);
  url = new URL(res.headers.get('location')!, action).href;
  // Back through the provider to the platform's callback.
  while (!url.startsWith(TEST_SITE) && !url.includes('/auth/callback')) {
    res = await get(url);
    if (res.status < 300 || res.status >= 400)
      throw new Error(`the provider answered ${res.status} at ${url}: ${(await res.text()).slice(0, 300)}`);
    url = new URL(res.headers.get('location')!, url).href;
  }
  const cb = new URL(url);
  if (o.tamperState) cb.searchParams.set('state', 'forged-state');
  // The callback the provider redirected to, unless the test sends the browser elsewhere.
  const callback = await t.app.inject({
    method: 'GET',
    url: `${o.callbackPath ?? cb.pathname}${cb.search}`,
    headers: { cookie: site.header() },
  });
  const setCookie = ([] as string[]).concat(callback.headers['set-cookie'] ?? []);
  site.take(setCookie);
  const sessionCookie = [...site.cookies]
    .filter(([k]) => k.includes('kvalreg_session'))
    .map(([k, v]) => `${k}=${v}`)
    .join('; ');
  let csrf = '';
  if (sessionCookie) {
    const me = await t.app.inject({ method: 'GET', url: '/api/me', headers: { cookie: sessionCookie } });
    csrf = me.json().csrfToken;
  }
  return {
    cookie: sessionCookie,
    csrf,
    setCookie,
    callbackStatus: callback.statusCode,
    callbackBody: callback.body,
    location: callback.headers.location as string | undefined,
  };
}
