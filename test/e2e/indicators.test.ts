// End to end in Chromium: a unit registrar logs in through the local OpenID provider, sees the
// registry home, the own unit against the nation on the indicators page, one indicator with its
// charts and explanation list, and completes and finalises a form generated from the codebook.
// Every main page is scanned with axe (WCAG 2.1 A/AA): no serious or critical violations.
// KVALREG_SCREENSHOTS=1 saves a screenshot of each main page into docs/screenshots/.
import fs from 'node:fs';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { runDemo } from '../../src/cli/demo.ts';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { ninHash } from '../../src/identity/crypto.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { mimeParts, startTestInbox, type TestInbox } from '../helpers/mail.ts';
import { pdfInfo } from '../helpers/pdf.ts';
import { choose, CHROMIUM_ARGS, findChromium, logIn as logInAt, NO_CHROMIUM_IN_CI, scan, screenshot } from '../helpers/browser.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();

describe.skipIf(!executablePath && !process.env.CI)('the web app in the browser', () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let mail: TestInbox;
  let browser: Browser;
  let site: string;
  let caseId: number;
  const patientNin = nin('1951-02-14', 'female');

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp(
      [account('registrar', { name: 'Sindre Stavanger' }), account('pasient', { pid: patientNin, name: 'Pia Pasient' })],
      { site },
    );
    mail = await startTestInbox();
    t = await testPlatform({
      ...idp.env,
      KVALREG_SMTP_URL: mail.url,
      KVALREG_MAIL_FROM: 'Norsk frakturregister <rapport@kvalreg.test>',
      KVALREG_PUBLIC_URL: site,
    });
    await setUser(t.platform.db.pool, {
      subject: 'sub-registrar',
      name: 'Sindre Stavanger',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    // A year of demo traffic through the real FHIR API, and one fracture whose intended treatment is missing.
    const demo = await runDemo(t.platform, site, { years: 1, scale: 0.1, seed: 5, concurrency: 2, rate: [] });
    expect(demo.failed).toBe(0);
    const own = fracture({
      nin: patientNin,
      intent: undefined,
      injuryDateTime: `${new Date().getFullYear()}-01-10T10:00:00+01:00`,
      firstContact: `${new Date().getFullYear()}-01-10T11:00:00+01:00`,
    });
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(own)),
    });
    expect(res.statusCode).toBeLessThan(300);
    caseId = (
      await t.platform.db.pool.query('SELECT c.id FROM registry_case c JOIN person p ON p.id = c.person_id WHERE p.nin_hash = $1', [
        ninHash(t.platform.keys, patientNin),
      ])
    ).rows[0].id;
    await t.platform.analytics.refresh();
    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: CHROMIUM_ARGS });
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
    await mail?.close();
  });

  async function logIn(username: string) {
    const session = await logInAt(browser, site, username);
    session.page.on('console', (m) => {
      if (m.type() === 'error') console.error(`console: ${m.text()}`);
    });
    return session;
  }

  it('shows the registrar the registry home, the indicators, one indicator with its explanation, and lets them complete and finalise a form', async () => {
    const { context, page } = await logIn('registrar');
    // Home: key figures and the own unit's worklist.
    await page.getByRole('heading', { level: 1, name: 'Registerets forside' }).waitFor();
    await expect.poll(() => page.getByTestId('worklist-count').textContent(), { timeout: 30_000 }).toMatch(/^\d+$/);
    expect(Number(await page.getByTestId('worklist-count').textContent())).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('cases-unit').textContent(), { timeout: 30_000 }).toMatch(/^\d+$/);
    await screenshot(page, 'home');
    await scan(page, 'home');

    // Indicators: own unit beside the region and the nation.
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Kvalitetsindikatorer' }).click();
    await page.getByRole('heading', { level: 1, name: 'Kvalitetsindikatorer' }).waitFor();
    const table = page.locator('table.indicator-table');
    await table.getByRole('columnheader', { name: 'SUS, Ortopedisk avdeling' }).waitFor();
    await table
      .getByRole('columnheader', { name: 'Helse Vest RHF' })
      .or(table.getByRole('columnheader', { name: /Helse Vest/ }))
      .first()
      .waitFor();
    const row = table.locator('tr[data-indicator="nfr01_time_to_treatment"]');
    await expect.poll(() => row.locator('td .result').count(), { timeout: 30_000 }).toBe(3);
    expect(await row.textContent()).toMatch(/\d+,\d\s%.*(høy|moderat|lav)/);
    await table.getByText('definisjon kommer').first().waitFor();
    await screenshot(page, 'indicators');
    await scan(page, 'indicators');

    // One indicator: definition, charts, all units compared, strata, and the explanation list.
    await row.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: /^1 / }).waitFor();
    await page.getByText('Teller', { exact: true }).waitFor();
    await page.getByText('Nevner', { exact: true }).waitFor();
    await page.getByRole('img', { name: /utvikling over tid/ }).waitFor();
    await page.getByRole('img', { name: /alle enheter sammenlignet/ }).waitFor();
    expect(page.url()).toMatch(/period=\d{4}/);
    const explanation = page.locator('table.explanation-table');
    await expect.poll(() => explanation.locator('tbody tr').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await explanation.locator('tbody tr').first().textContent()).toMatch(/Ja|Nei/);
    // The comparison level is kept in the URL.
    await page.getByLabel('Nivå', { exact: true }).selectOption('trust');
    await expect.poll(() => page.url(), { timeout: 30_000 }).toMatch(/level=trust/);
    await page.getByLabel('Nivå', { exact: true }).selectOption('hospital');
    // Downloads rendered on the server from the same chart definition: a real PNG, and an XLSX
    // workbook holding the units compared.
    const [png] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /^Last ned figuren PNG: .*alle enheter sammenlignet/ }).click(),
    ]);
    const pngBytes = fs.readFileSync((await png.path())!);
    expect(pngBytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(png.suggestedFilename()).toMatch(/^fracture-units-nfr01_time_to_treatment-\d{4}.*\.png$/);
    const [xlsx] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /^tallene XLSX: .*alle enheter sammenlignet/ }).click(),
    ]);
    const book = new ExcelJS.Workbook();
    await book.xlsx.readFile((await xlsx.path())!);
    const cells = book.worksheets.flatMap((ws) =>
      ws
        .getSheetValues()
        .flat()
        .map((v) => String(v ?? '')),
    );
    expect(cells.some((c) => /Stavanger universitetssjukehus/.test(c))).toBe(true);
    await screenshot(page, 'indicator');
    await scan(page, 'indicator');
    const audited = await t.platform.db.pool.query(
      "SELECT count(*)::int AS n FROM audit_event WHERE action = 'indicator:explain' AND actor = 'user:sub-registrar'",
    );
    expect(audited.rows[0].n).toBeGreaterThan(0);

    // Registrations: the worklist, then the case with the missing intended treatment.
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Registreringer' }).click();
    await page.getByRole('heading', { level: 1, name: 'Registreringer' }).waitFor();
    await expect.poll(() => page.getByTestId('worklist-total').textContent(), { timeout: 30_000 }).toMatch(/registreringer mangler/);
    // Registrations per month for the unit, with how many are complete and finalised.
    await expect.poll(() => page.getByTestId('summary-table').locator('tbody tr').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('summary-table').locator('tbody tr').first().textContent()).toMatch(/\d+ \(\d+\s%\)/);
    await screenshot(page, 'registrations');
    await scan(page, 'registrations');
    await page.goto(`${site}/registrations?case=${caseId}`);
    await page.getByRole('heading', { level: 1, name: `Registrering ${caseId}` }).waitFor();
    const form = page.locator('[data-form="behandling"]');
    await form.getByText('Kladd').waitFor();
    await form.getByLabel(/^Planlagt behandling/).selectOption('conservative');
    await form.getByRole('button', { name: 'Lagre' }).click();
    await form.getByText('Lagret.').waitFor();
    await form.getByRole('button', { name: 'Ferdigstill' }).click();
    await form.getByText('Skjemaet er ferdigstilt.').waitFor();
    await expect.poll(() => form.getByTestId('status-behandling').textContent(), { timeout: 30_000 }).toMatch(/Ferdigstilt/);
    await form.getByRole('button', { name: 'Gjenåpne' }).waitFor();
    await screenshot(page, 'registration-case');
    await scan(page, 'registration-case');
    const stored = await t.platform.db.pool.query(
      "SELECT status, data->>'treatment_intent' AS intent FROM case_form WHERE registry = 'fracture' AND case_id = $1 AND form = 'behandling'",
      [caseId],
    );
    expect(stored.rows[0]).toEqual({ status: 'finalised', intent: 'conservative' });
    await context.close();
  }, 240_000);

  it('shows a visitor without login the indicators of a unit they pick, and the patient their innsyn, without serious accessibility problems', async () => {
    const context = await browser.newContext({ locale: 'nb-NO' });
    const page = await context.newPage();
    await page.goto(`${site}/indicators?unit=${SUS_ORTHO}`);
    await page.getByRole('heading', { level: 1, name: 'Kvalitetsindikatorer' }).waitFor();
    await page.locator('table.indicator-table').getByRole('columnheader', { name: 'SUS, Ortopedisk avdeling' }).waitFor();
    // The annual report's analyses, interactive: the figure drawn on the server, its numbers beside it.
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Analyser' }).click();
    await page.getByRole('heading', { level: 1, name: 'Analyser' }).waitFor();
    await page.getByLabel('Figur', { exact: true }).selectOption('ao-prefix-by-sex');
    await expect.poll(() => page.locator('table.analysis-table tbody tr').count(), { timeout: 30_000 }).toBeGreaterThan(3);
    const img = page.locator('figure.analysis-figure img');
    await expect
      .poll(() => img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth), { timeout: 30_000 })
      .toBeGreaterThan(100);
    expect(page.url()).toContain('figure=ao-prefix-by-sex');
    // The own unit beside the rest of the country, as shares; the choice kept in the URL.
    await choose(page, 'Enhet', SUS_ORTHO, /SUS, Ortopedisk avdeling/);
    await page.getByLabel('Sammenlign med', { exact: true }).selectOption('rest');
    await expect.poll(() => page.url(), { timeout: 30_000 }).toContain('compare=rest');
    await page.locator('table.analysis-table').getByRole('cell', { name: 'Resten av landet' }).first().waitFor();
    await page.locator('table.analysis-table').getByRole('columnheader', { name: 'Andel (%)' }).waitFor();
    await screenshot(page, 'analyses');
    await scan(page, 'analyses');
    // The public hospital profile: every indicator for the hospital, levels per year, filter by level.
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Sykehusprofil' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sykehusprofil' }).waitFor();
    await choose(page, 'Sykehus', 'Stavanger', /Stavanger universitetssjukehus/);
    const profile = page.locator('table.indicator-table');
    await profile.getByRole('link', { name: /^1\. Tid fra skaden til behandlingsstart/ }).waitFor();
    await page.getByRole('heading', { name: 'Antall indikatorer på hvert nivå per år' }).waitFor();
    expect(page.url()).toContain(`hospital=${SUS_HOSPITAL}`);
    const all = await profile.getByRole('row').count();
    await page.getByLabel('Vis måloppnåelse', { exact: true }).selectOption('high');
    await expect.poll(async () => ((await profile.count()) ? profile.getByRole('row').count() : 0)).toBeLessThan(all);
    await screenshot(page, 'hospital-profile');
    await scan(page, 'hospital-profile');
    await context.close();

    const p = await logIn('pasient');
    await p.page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Innsyn' }).click();
    await p.page.getByRole('heading', { level: 1, name: 'Innsyn: dine opplysninger' }).waitFor();
    await p.page.getByRole('heading', { name: 'Norsk frakturregister' }).waitFor();
    await screenshot(p.page, 'innsyn');
    await scan(p.page, 'innsyn');
    await p.context.close();
  }, 120_000);
  it('lets the registrar subscribe to the unit report and receive it by e-mail with its PDF', async () => {
    const { context, page } = await logIn('registrar');
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Rapporter' }).click();
    await page.getByRole('heading', { level: 1, name: 'Rapporter' }).waitFor();
    // The unit report on demand, for the own unit.
    await page.getByRole('link', { name: /^Last ned enhetsrapporten: SUS, Ortopedisk avdeling \d{4} \(PDF\)$/ }).waitFor();
    // A weekly subscription to the own unit's report.
    const form = page.getByRole('form', { name: 'Nytt abonnement' });
    await form.getByLabel('Hvor ofte', { exact: true }).selectOption('weekly');
    await form.getByLabel('E-postadresse').fill('leder@sus.test');
    await form.getByRole('button', { name: 'Abonner' }).click();
    await form.getByText('Abonnementet er opprettet.').waitFor();
    const row = page.locator('table.subscription-table[data-kind="own"] tbody tr');
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(1);
    expect(await row.textContent()).toMatch(/Enhetsrapport.*SUS, Ortopedisk avdeling.*Ukentlig.*leder@sus\.test/);
    await screenshot(page, 'reports');
    await scan(page, 'reports');
    // Sent now rather than in a week: the e-mail arrives at the SMTP server with the unit report as PDF.
    await row.getByRole('button', { name: /^Send nå/ }).click();
    await page.getByText('Rapporten sendes nå.', { exact: false }).waitFor();
    await expect.poll(() => mail.mails.length, { timeout: 60_000 }).toBe(1);
    const received = mail.mails[0];
    expect(received.to).toEqual(['leder@sus.test']);
    expect(received.raw).toMatch(/Subject: .*Enhetsrapport/);
    const pdf = mimeParts(received.raw).find((x) => x.type === 'application/pdf')!;
    expect(pdf.body.subarray(0, 4).toString()).toBe('%PDF');
    expect(pdfInfo(pdf.body).Title).toBe('Norsk frakturregister – Ortopedisk avdeling, Stavanger universitetssjukehus');
    const text = mimeParts(received.raw)
      .find((x) => x.type === 'text/plain')!
      .body.toString('utf8');
    expect(text).toContain(`${site}/api/unsubscribe?token=`);
    // The delivery is in the subscription's log on the page.
    await row.getByText('Utsendingslogg').click();
    await row.getByRole('button', { name: 'Oppdater loggen' }).click();
    await expect.poll(() => row.locator('.delivery-log').textContent(), { timeout: 30_000 }).toMatch(/leder@sus\.test – sendt/);
    await context.close();
  }, 120_000);
});
