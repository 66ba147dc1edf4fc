// PROM on the web, in Chromium: anyone reads a unit's PROM results beside the nation (response
// rates, who answered, scores), with small counts shown as withheld; the patient sees in innsyn the
// questionnaire answers kept about them. Both pages are scanned with axe (WCAG 2.1 A/AA).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { questionnaireResponse, responseBundle } from '../../src/prom/eprom.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { CHROMIUM_ARGS, findChromium, logIn, NO_CHROMIUM_IN_CI, scan, screenshot } from '../helpers/browser.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();

describe.skipIf(!executablePath && !process.env.CI)('PROM in the browser', () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let browser: Browser;
  let site: string;
  const patientNin = nin('1958-03-03', 'female');

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp([account('pasient', { pid: patientNin, name: 'Pia Pasient' })], { site });
    t = await testPlatform(idp.env);
    const post = async (bundle: unknown) => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(bundle),
      });
      expect(res.statusCode, res.body).toBe(200);
    };
    // 2023: 30 wrist fractures at Stavanger orthopaedics (20 answer at 6 weeks), 3 at Kalnes (1 answers).
    const answers: unknown[] = [];
    for (let i = 0; i < 33; i++) {
      const f = fracture({
        nin: i === 0 ? patientNin : nin(`19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 10}`, i % 2 ? 'male' : 'female'),
        unitResh: i < 30 ? SUS_ORTHO : OTHER_ORTHO,
        injuryDateTime: '2023-03-01T10:00:00+01:00',
        firstContact: '2023-03-01T11:00:00+01:00',
      });
      await post(ehrBundle(f));
      if (i < 20 || i === 30) {
        const level = String(1 + (i % 3));
        answers.push(
          questionnaireResponse({
            instrument: t.platform.prom.instruments.get('eq5d5l')!,
            nin: f.nin,
            authored: '2023-04-14T18:00:00Z',
            answers: { mobility: level, selfcare: '1', usual: level, pain: level, anxiety: '1', vas: 60 + i },
            identifier: { system: 'urn:oid:2.16.578.1.12.4.1.999.7.qr', value: `e2e-${i}` },
          }),
        );
      }
    }
    await post(responseBundle(answers as any));
    await t.platform.analytics.refresh();
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: CHROMIUM_ARGS });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
  });

  it("shows a unit's PROM results beside the nation to anyone, small counts withheld", async () => {
    const context = await browser.newContext({ locale: 'nb-NO', timezoneId: 'Europe/Oslo', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${site}/prom-results?year=2023&unit=${SUS_ORTHO}`);
    await page.getByRole('heading', { level: 1, name: 'Pasientrapporterte resultater (PROM)' }).waitFor();
    const rates = page.locator('table.prom-table').first();
    await rates.getByRole('columnheader', { name: 'Hele landet' }).waitFor();
    const w6 = rates.getByRole('row').filter({ hasText: '6 uker' }).filter({ hasText: 'EQ-5D-5L' });
    // The unit: 30 asked, 20 answered (67 %); the nation: 33, 21 (64 %).
    await expect.poll(() => w6.textContent()).toMatch(/30\s*20\s*67\s%\s*33\s*21\s*64\s%/);
    await page.getByRole('heading', { name: 'Hvem svarte og hvem svarte ikke' }).waitFor();
    await page.getByRole('heading', { name: 'Skårer' }).waitFor();
    await screenshot(page, 'prom-results');
    await scan(page, 'prom-results');
    // Kalnes: three asked, one answered: nothing but dashes.
    await page.goto(`${site}/prom-results?year=2023&unit=${OTHER_ORTHO}`);
    const other = page.locator('table.prom-table').first().getByRole('row').filter({ hasText: '6 uker' }).filter({ hasText: 'EQ-5D-5L' });
    await expect.poll(() => other.textContent()).toMatch(/^6 ukerEQ-5D-5L–––33\s*21/);
    await expect.poll(() => page.locator('abbr[title="For få til å vises"]').count()).toBeGreaterThan(3);
    await context.close();
  });

  it('shows the patient their questionnaire answers in innsyn', async () => {
    const { context, page } = await logIn(browser, site, 'pasient');
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Innsyn' }).click();
    await page.getByRole('heading', { level: 2, name: 'Spørreskjemaer' }).waitFor();
    await page.getByRole('heading', { level: 3, name: 'Svarene dine' }).waitFor();
    const answers = page.locator('.innsyn-prom');
    await expect.poll(() => answers.textContent()).toMatch(/Delt med.*Norsk frakturregister \(6 uker\)/);
    await expect.poll(() => answers.textContent()).toMatch(/EQ VAS: 60/);
    await scan(page, 'innsyn-prom');
    await context.close();
  });
});
