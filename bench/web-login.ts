// Logs a person in against a running server, as a browser does: the platform's /auth/login, the
// provider's login form, the redirects back to /auth/callback. Returns the session cookie as a
// Cookie header, so the load generator sends what a logged-in browser sends.
// (test/helpers/login.ts does the same through app.inject for the tests.)

/** Cookies of one site, as a browser keeps them. */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(setCookie: string[]) {
    for (const c of setCookie) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim(),
        value = pair.slice(i + 1).trim();
      if (value === '' || /max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(filter: (name: string) => boolean = () => true) {
    return [...this.cookies]
      .filter(([k]) => filter(k))
      .map(([k, v]) => `${k}=${v}`)
      .join('; ');
  }
}

export async function loginOverHttp(site: string, username: string, password: string): Promise<string> {
  const siteJar = new Jar(),
    provider = new Jar();
  const onSite = (url: string) => url.startsWith(site);
  const get = async (url: string) => {
    const jar = onSite(url) ? siteJar : provider;
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(res.headers.getSetCookie());
    return res;
  };
  // To the provider's login page.
  let url = `${site}/auth/login?returnTo=%2Findicators`;
  let res = await get(url);
  while (res.status >= 300 && res.status < 400) {
    url = new URL(res.headers.get('location')!, url).href;
    res = await get(url);
  }
  if (res.status !== 200 || !url.includes('/interaction/'))
    throw new Error(`expected the provider's login page, got ${res.status} at ${url}`);
  // The form, then the redirects back through the provider to the platform's callback.
  res = await fetch(`${url}/login`, {
    method: 'POST',
    redirect: 'manual',
    body: new URLSearchParams({ username, password }),
    headers: { cookie: provider.header(), 'content-type': 'application/x-www-form-urlencoded' },
  });
  provider.take(res.headers.getSetCookie());
  if (res.status !== 303) throw new Error(`the provider refused the login (${res.status})`);
  url = new URL(res.headers.get('location')!, url).href;
  for (let hops = 0; !url.startsWith(`${site}/auth/callback`); hops++) {
    if (hops > 10) throw new Error(`too many redirects at ${url}`);
    res = await get(url);
    if (res.status < 300 || res.status >= 400) throw new Error(`the provider answered ${res.status} at ${url}`);
    url = new URL(res.headers.get('location')!, url).href;
  }
  res = await get(url);
  if (res.status !== 302 && res.status !== 303)
    throw new Error(`/auth/callback answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const cookie = siteJar.header((name) => name.includes('kvalreg_session'));
  if (!cookie) throw new Error('logged in, but the platform set no session cookie');
  return cookie;
}
