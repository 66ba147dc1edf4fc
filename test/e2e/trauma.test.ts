// The trauma register's form workflow in Chromium, as the definition catalogue describes it: a
// trauma registrar opens a trauma event captured from the hospital's messages, sees its six forms
// with their status on the event's page, completes a form and finalises it (shown green), reopens
// it, and deletes an injury (a repeating form) — refused while it is finalised, allowed once it is
// reopened. The same generated pages as the fracture register's: nothing trauma-specific in the app.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { CHROMIUM_ARGS, findChromium, logIn, NO_CHROMIUM_IN_CI, scan, screenshot } from '../helpers/browser.ts';
import { nin } from '../helpers/fixtures.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { SUS_HOSPITAL, testPlatform, type TestPlatform } from '../helpers/platform.ts';
import { traumaBundle } from '../helpers/trauma.ts';

const executablePath = findChromium();
const ED = '8201102'; // SUS emergency department: receives the trauma team's patients

describe.skipIf(!executablePath && !process.env.CI)("the trauma register's forms in the browser", () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let browser: Browser;
  let site: string;
  let caseId: number;

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp([account('traumeregistrar', { name: 'Tora Traume' })], { site });
    t = await testPlatform(idp.env);
    await setUser(t.platform.db.pool, {
      subject: 'sub-traumeregistrar',
      name: 'Tora Traume',
      grants: [{ registry: 'trauma', role: 'unit-registrar', unit: SUS_HOSPITAL }],
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    // A trauma event as the hospital's record system sends it: two injuries coded with AIS.
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(
        traumaBundle({
          id: 'e2e-1',
          nin: nin('1980-05-05', 'female'),
          unitResh: ED,
          arrival: '2024-06-01T10:00:00+02:00',
          traumaTeam: true,
          accident: { at: '2024-06-01T09:20:00+02:00' },
          mechanism: 'fall_high',
          intention: 'accident',
          injuryType: 'blunt',
          arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
          ais: ['853000.3', '450203.3'],
        }),
      ),
    });
    expect(res.statusCode, res.body).toBe(200);
    caseId = (await t.platform.db.pool.query("SELECT id FROM registry_case WHERE registry = 'trauma'")).rows[0].id;
    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: CHROMIUM_ARGS });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
  });

  it('finalises forms of a trauma event (shown green), reopens them, and deletes an injury only once reopened', async () => {
    const { context, page } = await logIn(browser, site, 'traumeregistrar');
    await page
      .getByText(/Nasjonalt traumeregister/)
      .first()
      .waitFor();
    await page.goto(`${site}/registrations?case=${caseId}`);
    await page.getByRole('heading', { level: 1, name: `Registrering ${caseId}` }).waitFor();

    // The event's page: every form with its status.
    const overview = page.getByTestId('case-forms');
    await expect.poll(() => overview.locator('tbody tr').count(), { timeout: 30_000 }).toBe(7); // five forms + two injuries
    for (const form of ['traumeperiode', 'ulykke', 'prehospital', 'akuttmottak', 'sykehusopphold'])
      await overview.locator(`tr[data-form-row="${form}"]`).waitFor();
    expect(await overview.locator('tr[data-form-row^="skadegradering/"]').count()).toBe(2);

    // Finalise the accident form: shown green with a tick and the word.
    const accident = page.locator('[data-form="ulykke"]');
    await accident.getByText('Kladd').first().waitFor();
    await accident.getByRole('button', { name: 'Ferdigstill' }).click();
    await expect.poll(() => accident.getByTestId('status-ulykke').textContent(), { timeout: 30_000 }).toMatch(/Ferdigstilt/);
    expect(
      await accident
        .getByTestId('status-ulykke')
        .evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(el).color),
    ).toBe('rgb(6, 96, 58)');
    await expect.poll(() => overview.locator('tr[data-form-row="ulykke"]').textContent(), { timeout: 30_000 }).toMatch(/✔\s*Ferdigstilt/);
    await screenshot(page, 'trauma-event');
    await scan(page, 'trauma-event');

    // Reopen it: the status says so and the form can be changed again.
    await accident.getByRole('button', { name: 'Gjenåpne' }).click();
    await expect.poll(() => accident.getByTestId('status-ulykke').textContent(), { timeout: 30_000 }).toMatch(/Gjenåpnet/);
    await accident.getByRole('button', { name: 'Lagre' }).waitFor();

    // An injury finalised cannot be deleted: it is reopened first, then deleted (with a confirmation).
    const injury = page.locator('[data-form="skadegradering"]').first();
    const instance = await injury.getAttribute('data-instance');
    await injury.getByRole('button', { name: 'Ferdigstill' }).click();
    await injury.getByText('Et ferdigstilt skjema må gjenåpnes før det kan slettes.').waitFor();
    expect(await injury.getByRole('button', { name: 'Slett skjemaet' }).count()).toBe(0);
    await injury.getByRole('button', { name: 'Gjenåpne' }).click();
    await injury.getByRole('button', { name: 'Slett skjemaet' }).click();
    await injury.getByRole('button', { name: 'Bekreft sletting' }).click();
    await expect.poll(() => overview.locator('tr[data-form-row^="skadegradering/"]').count(), { timeout: 30_000 }).toBe(1);
    expect(await page.locator(`[data-form="skadegradering"][data-instance="${instance}"]`).count()).toBe(0);

    // Stored as shown: the accident form reopened, the injury gone with its history kept and audited.
    const db = t.platform.db.pool;
    expect(
      (await db.query("SELECT status FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'ulykke'", [caseId])).rows[0]
        .status,
    ).toBe('reopened');
    expect(
      (
        await db.query("SELECT count(*)::int AS n FROM case_form WHERE registry = 'trauma' AND case_id = $1 AND form = 'skadegradering'", [
          caseId,
        ])
      ).rows[0].n,
    ).toBe(1);
    const history = await db.query(
      "SELECT changes FROM value_history WHERE registry = 'trauma' AND case_id = $1 AND form = 'skadegradering' AND instance = $2 ORDER BY version",
      [caseId, instance],
    );
    expect(history.rows.at(-1)!.changes).toEqual({ $status: ['reopened', 'deleted'] });
    expect(
      (await db.query("SELECT count(*)::int AS n FROM audit_event WHERE action = 'delete' AND actor = 'user:sub-traumeregistrar'")).rows[0]
        .n,
    ).toBe(1);
    await context.close();
  }, 180_000);
});
