// End to end in Chromium (Debian's package, headless, driven by playwright-core): people log in
// through the local OpenID provider's real login page, and use the web app as a person would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { ninHash } from '../../src/identity/crypto.ts';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { CHROMIUM_ARGS, findChromium, logIn as logInAt, NO_CHROMIUM_IN_CI } from '../helpers/browser.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { OTHER_ORTHO, SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();
if (!executablePath && !process.env.CI) {
  console.warn(
    "Skipping the browser tests: no chromium found (install Debian's package: apt-get install chromium). In CI (CI set) they fail instead.",
  );
}

describe.skipIf(!executablePath && !process.env.CI)('in the browser', () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let browser: Browser;
  let site: string;
  const patientNin = nin('1948-11-30', 'female');

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp(
      [account('pasient', { pid: patientNin, name: 'Pia Pasient' }), account('registrar', { name: 'Sindre Stavanger' })],
      { site },
    );
    t = await testPlatform(idp.env);
    await setUser(t.platform.db.pool, {
      subject: 'sub-registrar',
      name: 'Sindre Stavanger',
      grants: [
        { registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO },
        { registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO },
      ],
    });
    // The patient's fracture, sent by the hospital system, and looked at by a registrar.
    const f = fracture({ nin: patientNin, aoCode: '2R3A2', side: 'right' });
    await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
    const caseId = (
      await t.platform.db.pool.query('SELECT c.id FROM registry_case c JOIN person p ON p.id = c.person_id WHERE p.nin_hash = $1', [
        ninHash(t.platform.keys, patientNin),
      ])
    ).rows[0].id;
    await t.app.inject({
      method: 'GET',
      url: `/api/registries/fracture/cases/${caseId}`,
      headers: { authorization: `Bearer ${t.tokens.registrarSus}` },
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
  });

  async function logIn(username: string) {
    // Through the provider's own login page (test/helpers/browser.ts).
    const session = await logInAt(browser, site, username);
    await expect(session.page.locator('html')).toBeDefined();
    return session;
  }

  it('lets the patient see their fracture and the access log, opt out, and then nothing is left', async () => {
    const { context, page } = await logIn('pasient');
    expect(await page.getAttribute('html', 'lang')).toBe('nb');
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Innsyn' }).click();
    await page.getByRole('heading', { level: 1, name: 'Innsyn: dine opplysninger' }).waitFor();
    await page.getByRole('heading', { name: 'Norsk frakturregister' }).waitFor();
    const values = page.locator('.innsyn-form');
    await expect.poll(() => values.count()).toBeGreaterThan(0);
    expect(await page.getByRole('row', { name: /Side\s+Høyre/ }).count()).toBeGreaterThan(0);
    // The access log: who looked (role and unit), when, why.
    const log = page.locator('section.innsyn-log');
    await log
      .getByRole('cell', { name: /Registrator ved avdelingen, .*Ortopedisk avdeling/ })
      .first()
      .waitFor();
    await log.getByRole('cell', { name: 'Kvalitetssikring av registreringen' }).first().waitFor();
    await log
      .getByRole('cell', { name: /Fagsystem på sykehuset/ })
      .first()
      .waitFor();

    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/innsyn.png`, fullPage: true });
    // Opt out, with a confirmation step.
    await page.getByRole('button', { name: 'Reserver meg' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Vil du reservere deg?' }).waitFor();
    await dialog.getByRole('button', { name: 'Ja, reserver meg' }).click();
    await page.getByText('Reservasjonen er registrert').waitFor();
    await page.getByText(/Du er reservert\. Opplysningene om deg er slettet/).waitFor();
    // What is left to show: that she opted out, when, and how to withdraw it — also after a reload.
    const reservation = page.getByTestId('innsyn-reservation');
    await reservation.getByText(/^Du reserverte deg \d+\. \w+ \d{4}\./).waitFor();
    await reservation.getByRole('heading', { name: 'Slik trekker du reservasjonen tilbake' }).waitFor();
    expect(await page.getByText('Ingen har sett på opplysningene dine ennå.').count()).toBe(0);
    await page.reload();
    await page
      .getByTestId('innsyn-reservation')
      .getByText(/^Du reserverte deg/)
      .waitFor();
    await page.getByRole('heading', { name: 'Kontakt registeret' }).waitFor();
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/innsyn-after.png`, fullPage: true });

    // And the data is really gone.
    const persons = await t.platform.db.pool.query('SELECT count(*)::int AS n FROM person WHERE nin_hash = $1', [
      ninHash(t.platform.keys, patientNin),
    ]);
    expect(persons.rows[0].n).toBe(0);
    const reserved = await t.platform.db.pool.query('SELECT count(*)::int AS n FROM reservation WHERE nin_hash = $1', [
      ninHash(t.platform.keys, patientNin),
    ]);
    expect(reserved.rows[0].n).toBe(1);
    await context.close();
  });

  it('lets a unit user log in, switch role and unit, switch language, and log out', async () => {
    const { context, page } = await logIn('registrar');
    const select = page.getByRole('combobox', { name: 'Rolle og enhet' });
    expect(await select.inputValue()).toBe(`fracture|unit-registrar|${SUS_ORTHO}`);
    await select.selectOption(`fracture|unit-reader|${OTHER_ORTHO}`);
    await page.getByRole('button', { name: 'Bytt rolle' }).click();
    if (process.env.E2E_SCREENSHOTS) await page.screenshot({ path: `${process.env.E2E_SCREENSHOTS}/role.png`, fullPage: true });
    await page.getByText(/Du handler nå som: Leser – Ortopedisk avdeling/).waitFor();
    const me: any = await page.evaluate(async () => (await fetch('/api/me')).json());
    expect(me.active).toMatchObject({ role: 'unit-reader', unit: OTHER_ORTHO });
    // The session cookie is not readable by scripts.
    expect(await page.evaluate('document.cookie')).not.toContain('kvalreg_session');

    await page.getByRole('button', { name: 'Change language to English' }).click();
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    await page.getByText('Logged in as').waitFor();

    await page.getByRole('button', { name: 'Log out' }).click();
    // The login service asks whether to end its own session too.
    await page.waitForURL(new RegExp(`^${idp.idp.issuer}/session/end`));
    const after = await context.request.get(`${site}/api/me`);
    expect(after.status()).toBe(401);
    const switches = await t.platform.db.pool.query(
      "SELECT role, unit FROM audit_event WHERE action = 'role-switch' AND actor = 'user:sub-registrar' AND outcome = 'ok'",
    );
    expect(switches.rows).toContainEqual({ role: 'unit-reader', unit: OTHER_ORTHO });
    await context.close();
  });
});
