// The web app's data cache, page scope and "not found" pages in Chromium (docs/web.md, "Data and
// page scope"):
// - one request per thing per page: the registry list, the units and the codebook are asked for
//   once however many components need them (they used to be fetched several times per page);
// - a save refreshes what it changed: the field's history and the case header are read again, and
//   the worklist, still fresh in the cache from a moment before, is not shown stale;
// - every page opens on the same year (the newest full year with data, from the registry's years)
//   and the own unit, and a registrar's choice of "the nation only" survives a reload;
// - an unknown path, indicator, case, metadata registry or ?registry= says "not found" in words.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { runDemo } from '../../src/cli/demo.ts';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { ninHash } from '../../src/identity/crypto.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { CHROMIUM_ARGS, findChromium, logIn, NO_CHROMIUM_IN_CI, scan } from '../helpers/browser.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();

/** Counts the API requests a page makes, by path and query. */
function countRequests(page: Page) {
  const seen: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) seen.push(u.pathname + u.search);
  });
  return {
    count: (pred: (url: string) => boolean) => seen.filter(pred).length,
    reset: () => seen.splice(0),
    all: () => seen.join('\n'),
  };
}

describe.skipIf(!executablePath && !process.env.CI)("the web app's data cache, page scope and not-found pages", () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let browser: Browser;
  let site: string;
  let caseId: number;
  let defaultYear: string;
  let nation: string;

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp([account('registrar', { name: 'Sindre Stavanger' })], { site });
    t = await testPlatform(idp.env);
    await setUser(t.platform.db.pool, {
      subject: 'sub-registrar',
      name: 'Sindre Stavanger',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    // One fracture at the own unit whose intended treatment is missing: on the worklist until
    // completed. Sent before the demo traffic, so it is first on the worklist (oldest first).
    const patient = nin('1951-02-14', 'female');
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(
        ehrBundle(
          fracture({
            nin: patient,
            intent: undefined,
            injuryDateTime: '2024-03-01T10:00:00+01:00',
            firstContact: '2024-03-01T11:00:00+01:00',
          }),
        ),
      ),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    caseId = (
      await t.platform.db.pool.query('SELECT c.id FROM registry_case c JOIN person p ON p.id = c.person_id WHERE p.nin_hash = $1', [
        ninHash(t.platform.keys, patient),
      ])
    ).rows[0].id;
    const demo = await runDemo(t.platform, site, { years: 1, scale: 0.05, seed: 7, concurrency: 2, rate: [] });
    expect(demo.failed).toBe(0);
    await t.platform.analytics.refresh();
    const years = (await t.app.inject({ method: 'GET', url: '/api/registries/fracture/years' })).json() as { default: number | null };
    expect(years.default).not.toBeNull();
    defaultYear = String(years.default);
    const units = (await t.app.inject({ method: 'GET', url: '/api/units' })).json() as Array<{ resh: string; level: string }>;
    nation = units.find((u) => u.level === 'nation')!.resh;
    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: CHROMIUM_ARGS });
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
  });

  it('asks once for what many components share, and refreshes what a save changed', async () => {
    const { context, page: home } = await logIn(browser, site, 'registrar');
    await home.close();
    // A page of its own, so nothing the home page still asks for is counted.
    const page = await context.newPage();
    const requests = countRequests(page);

    // The worklist first, so its answer is in the cache (fresh for 30 s) when we come back to it.
    await page.goto(`${site}/registrations`);
    const row = page.locator(`tr[data-case="${caseId}"]`);
    await row.waitFor({ timeout: 60_000 });
    expect(await row.textContent()).toMatch(/planlagt behandling/i);
    // A full page load: the registry list, the units and the codebook once each, however many
    // components ask (header, registry choice, worklist, unit names, the monthly summary, …).
    expect(
      requests.count((u) => u === '/api/registries'),
      requests.all(),
    ).toBe(1);
    expect(
      requests.count((u) => u === '/api/units'),
      requests.all(),
    ).toBe(1);
    expect(
      requests.count((u) => u === '/api/registries/fracture/codebook'),
      requests.all(),
    ).toBe(1);

    // To the case inside the app (no page load): the shared reference data comes from the cache.
    requests.reset();
    await row.getByRole('link').first().click();
    await page.getByRole('heading', { level: 1, name: `Registrering ${caseId}` }).waitFor();
    const form = page.locator('[data-form="behandling"]');
    await form.getByText('Kladd').waitFor();
    expect(requests.count((u) => u === '/api/registries' || u === '/api/units' || u.endsWith('/codebook'))).toBe(0);
    const header = `/api/registries/fracture/cases/${caseId}/header`;
    const history = `/api/registries/fracture/cases/${caseId}/field-history`;
    await expect.poll(() => requests.count((u) => u === header)).toBe(1);
    expect(requests.count((u) => u === history)).toBe(1);

    // Save: the field's history shows the new value without a reload; header and history were read again.
    await form.getByLabel(/^Planlagt behandling/).selectOption('conservative');
    await form.getByRole('button', { name: 'Lagre' }).click();
    await form.getByText('Lagret.').waitFor();
    await expect
      .poll(() => form.locator('details[data-history="treatment_intent"]').textContent(), { timeout: 30_000 })
      .toMatch(/conservative/);
    expect(requests.count((u) => u === header)).toBe(2);
    expect(requests.count((u) => u === history)).toBe(2);

    // Back to the worklist within 30 s: the cached list was made stale by the save, so the case
    // no longer shows the missing treatment (a cache that kept it would).
    await page.getByRole('link', { name: '← Arbeidslisten' }).click();
    await page.getByRole('heading', { level: 1, name: 'Registreringer' }).waitFor();
    await expect
      .poll(async () => ((await row.count()) ? await row.textContent() : 'gone'), { timeout: 30_000 })
      .not.toMatch(/planlagt behandling/i);
    await context.close();
  }, 300_000);

  it('opens every page on the same year and the own unit, and keeps "the nation only"', async () => {
    const { context, page } = await logIn(browser, site, 'registrar');
    const requests = countRequests(page);
    const pickers: Array<[string, string]> = [
      ['/indicators', '#period'],
      ['/analyses', '#year'],
      ['/prom-results', '#year'],
      ['/quality', '#dq-year'],
      ['/reports', '#report-year'],
      ['/registrations', '#summary-year'],
    ];
    for (const [path, picker] of pickers) {
      await page.goto(`${site}${path}`);
      await expect.poll(() => page.locator(picker).inputValue(), { timeout: 60_000, message: path }).toBe(defaultYear);
      // Only years with data are offered, the calendar year only when it has data.
      const offered = await page.locator(`${picker} option`).evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));
      expect(offered, path).toContain(defaultYear);
    }
    // No page asked for a year it then replaced (e.g. last calendar year while the years loaded).
    const asked = requests
      .all()
      .split('\n')
      .flatMap((u) => [...u.matchAll(/[?&](?:year|period)=(\d{4})/g)].map((m) => m[1]));
    expect(asked.length).toBeGreaterThan(0);
    expect(new Set(asked), requests.all()).toEqual(new Set([defaultYear]));
    // The analyses open on the own unit, as every page does (they used to show the nation).
    expect(
      requests.count((u) => /^\/api\/registries\/fracture\/figures\/[^?]+\?.*unit=/.test(u) && u.includes(`unit=${SUS_ORTHO}`)),
    ).toBeGreaterThan(0);
    // The own unit by default beside the nation; the nation only when chosen, also after a reload.
    await page.goto(`${site}/indicators`);
    const table = page.locator('table.indicator-table');
    await table.getByRole('columnheader', { name: 'SUS, Ortopedisk avdeling' }).waitFor({ timeout: 60_000 });
    await page.goto(`${site}/indicators?unit=${nation}`);
    await table.locator('thead').waitFor({ timeout: 60_000 });
    await page.reload();
    await table.locator('thead').waitFor({ timeout: 60_000 });
    expect(await table.getByRole('columnheader', { name: 'SUS, Ortopedisk avdeling' }).count()).toBe(0);
    await context.close();
  }, 300_000);

  it('says "not found" in words for an unknown path, indicator, case, metadata registry and ?registry=', async () => {
    const visitor = await browser.newContext({ locale: 'nb-NO' });
    const page = await visitor.newPage();
    await page.goto(`${site}/no/such/page`);
    await page.getByRole('heading', { level: 1, name: 'Fant ikke siden' }).waitFor();
    await page.getByRole('link', { name: 'Gå til forsiden' }).waitFor();
    await scan(page, 'not-found');

    await page.goto(`${site}/indicators/no_such_indicator`);
    await page.getByTestId('not-found').getByText('Denne indikatoren finnes ikke').waitFor({ timeout: 30_000 });
    await page.getByRole('link', { name: 'Gå til forsiden' }).waitFor();

    await page.goto(`${site}/metadata/no-such-registry`);
    await page.getByRole('heading', { level: 1, name: 'Fant ikke registeret' }).waitFor({ timeout: 30_000 });

    await page.goto(`${site}/indicators?registry=no-such-registry`);
    await page.getByRole('heading', { level: 1, name: 'Fant ikke registeret' }).waitFor({ timeout: 30_000 });
    await page.getByText('Registeret finnes ikke. (no-such-registry)').waitFor();
    await visitor.close();

    const { context, page: staff } = await logIn(browser, site, 'registrar');
    await staff.goto(`${site}/registrations?case=987654321`);
    await staff.getByTestId('not-found').getByText('Registreringen finnes ikke.').waitFor({ timeout: 30_000 });
    await staff.getByRole('link', { name: '← Arbeidslisten' }).waitFor();
    await staff.goto(`${site}/print?case=987654321`);
    await staff.getByTestId('not-found').getByText('Registreringen finnes ikke.').waitFor({ timeout: 30_000 });
    await context.close();
  }, 300_000);
});
