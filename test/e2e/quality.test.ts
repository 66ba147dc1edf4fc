// The data-quality pages in Chromium, as a unit's registrar, the registry's administrator and a
// visitor use them: the data-quality report with a finding followed up and the registrations behind
// it; the coverage page with "Lav dekningsgrad" and the "only in NPR" worklist showing the missing
// patient's identity number; the stage page with the draft verdict and an answer given with a link;
// the public metadata page (the DCAT-AP-NO landing page) without a login. Every page is scanned
// with axe (WCAG 2.1 A/AA): no serious or critical findings. KVALREG_SCREENSHOTS=1 saves
// screenshots into docs/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { CHROMIUM_ARGS, findChromium, logIn, NO_CHROMIUM_IN_CI, scan, screenshot } from '../helpers/browser.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();
const YEAR = new Date().getFullYear() - 1;
const day = (md: string) => `${YEAR}-${md}`;

describe.skipIf(!executablePath && !process.env.CI)('the data-quality pages in the browser', () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let browser: Browser;
  let site: string;
  // Six patients registered at SUS; NPR has four of them and five more the registry lacks.
  const people = Array.from({ length: 11 }, (_, i) => nin(`19${50 + i}-0${(i % 9) + 1}-1${i % 10}`, i % 2 ? 'male' : 'female'));
  const missing = people[6];

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp([account('registrar', { name: 'Sindre Stavanger' }), account('admin', { name: 'Ada Administrator' })], {
      site,
    });
    t = await testPlatform({ ...idp.env, KVALREG_PUBLIC_URL: site });
    await setUser(t.platform.db.pool, {
      subject: 'sub-registrar',
      name: 'Sindre Stavanger',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
    });
    await setUser(t.platform.db.pool, {
      subject: 'sub-admin',
      name: 'Ada Administrator',
      grants: [{ registry: 'fracture', role: 'registry-admin', unit: '1' }],
    });
    for (let i = 0; i < 6; i++) {
      // One fracture without its injury energy (completeness), the others complete.
      const f = fracture({
        nin: people[i],
        unitResh: SUS_ORTHO,
        injuryDateTime: `${day(`0${i + 2}-10`)}T10:00:00+01:00`,
        firstContact: `${day(`0${i + 2}-10`)}T11:00:00+01:00`,
      });
      const res = await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(ehrBundle(i === 0 ? { ...f, energy: undefined } : f)),
      });
      expect(res.statusCode, res.body).toBeLessThan(300);
    }
    await t.platform.analytics.refresh();
    const rows = [
      'episode_id;national_id;hospital_resh;admission_date;discharge_date;contact_type;icd10;ncsp',
      ...[0, 1, 2, 3].map((i) => `e${i};${people[i]};${SUS_HOSPITAL};${day(`0${i + 2}-10`)};${day(`0${i + 2}-11`)};inpatient;S52.5;`),
      `e6;${missing};${SUS_HOSPITAL};${day('09-01')};${day('09-02')};inpatient;S82.6;NGJ62`,
      ...[7, 8, 9, 10].map(
        (i) =>
          `e${i};${people[i]};${SUS_HOSPITAL};${day(`${i + 1}-01`.padStart(5, '0'))};${day(`${i + 1}-01`.padStart(5, '0'))};outpatient;S62.3;`,
      ),
    ];
    await t.platform.quality.importNpr(
      { kind: 'platform', task: 'test' },
      t.platform.registry('fracture')!,
      rows.join('\n'),
      t.platform.keys,
      { source: 'test', allowTestIdentities: true },
    );
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
  });

  it('the registrar sees the data-quality report, follows up a finding and opens the registrations behind it', async () => {
    const { context, page } = await logIn(browser, site, 'registrar');
    await page.goto(`${site}/quality?year=${YEAR}`);
    await page.getByRole('heading', { level: 1, name: 'Datakvalitet' }).waitFor();
    await page.getByRole('heading', { level: 2, name: /Sammendrag/ }).waitFor();
    await expect(page.getByRole('heading', { level: 2, name: 'Kompletthet per variabel' }).isVisible()).resolves.toBe(true);
    const findings = page.locator('.dq-finding');
    await findings.first().waitFor();
    const energy = findings.filter({ hasText: /Skadeenergi|energi/i }).first();
    await energy.getByRole('button', { name: 'Vis registreringene' }).click();
    await page.getByRole('heading', { level: 2, name: /Registreringer bak funnet/ }).waitFor();
    // The heading shows at once and the rows when they have loaded: wait for them before counting.
    await page.locator('.dq-cases tbody tr').first().waitFor();
    await expect(page.locator('.dq-cases tbody tr').count()).resolves.toBe(1);
    await energy.getByLabel('Merknad').fill('Purret på avdelingen');
    await energy.getByRole('button', { name: 'Merk som fulgt opp' }).click();
    await page.getByRole('status').filter({ hasText: 'Lagret.' }).waitFor();
    await page
      .locator('.dq-finding', { hasText: /energi/i })
      .getByText('Fulgt opp', { exact: true })
      .first()
      .waitFor();
    await scan(page, 'data quality');
    await screenshot(page, 'data-quality');
    await context.close();
  });

  it('the registrar sees coverage with "Lav dekningsgrad" and the only-in-NPR worklist with the missing patient', async () => {
    const { context, page } = await logIn(browser, site, 'registrar');
    await page.goto(`${site}/coverage?unit=${SUS_HOSPITAL}&year=${YEAR}`);
    await page.getByRole('heading', { level: 1, name: 'Dekningsgrad mot Norsk pasientregister' }).waitFor();
    // SUS: 4 in both, 2 only in the registry, 5 only in NPR: (2 + 4) / 11 = 54.5 %, under 60 %.
    // The coverage table's row (with a share in %), not a worklist row of the same hospital and
    // year: the two load separately, and the worklist may come first.
    const row = page
      .getByRole('row')
      .filter({ hasText: String(YEAR) })
      .filter({ hasText: 'Stavanger' })
      .filter({ hasText: '%' })
      .first();
    await row.waitFor();
    await expect(row.textContent()).resolves.toMatch(/54,5\s%.*Lav dekningsgrad/);
    await page.getByRole('cell', { name: missing }).waitFor();
    await expect(page.getByRole('cell', { name: people[0] }).count()).resolves.toBe(0);
    await scan(page, 'coverage');
    await screenshot(page, 'coverage');
    await context.close();
  });

  it('the administrator sees the draft stage verdict and answers a requirement with a link', async () => {
    const { context, page } = await logIn(browser, site, 'admin');
    await page.goto(`${site}/stage?year=${YEAR}`);
    await page.getByRole('heading', { level: 1, name: 'Stadievurdering' }).waitFor();
    const verdict = page.getByRole('heading', { level: 2, name: /Foreløpig vurdering/ });
    await verdict.waitFor();
    expect(await verdict.textContent()).toMatch(/[1-4][ABC]/);
    const answer = page.getByRole('button', { name: /^Svar på krav \d+$/ }).first();
    await answer.click();
    await page.getByLabel('Lenke til dokumentasjon').fill('https://example.no/plan.pdf');
    await page.getByRole('button', { name: 'Lagre svaret' }).click();
    await page.getByRole('link', { name: 'Dokumentasjon' }).first().waitFor();
    await scan(page, 'stage');
    await screenshot(page, 'stage');
    await context.close();
  });

  it('a visitor reads the public metadata page without logging in', async () => {
    const context = await browser.newContext({ locale: 'nb-NO', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${site}/metadata/fracture`);
    await page.getByRole('heading', { level: 1, name: /Variabler og definisjoner: Norsk frakturregister/ }).waitFor();
    await page.getByRole('link', { name: 'Datasettbeskrivelse (DCAT-AP-NO, Turtle)' }).waitFor();
    await page.getByRole('heading', { level: 2, name: 'Kvalitetsindikatorer' }).waitFor();
    await expect(page.getByRole('cell', { name: 'injury_energy', exact: true }).count()).resolves.toBe(1);
    await scan(page, 'metadata');
    await screenshot(page, 'metadata');
    await context.close();
  });
});
