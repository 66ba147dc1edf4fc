// Each role's main task in Chromium, as the demo users do it, in Norwegian, and on a phone:
// - the registrar finds a patient by identity number, sees who the case is about (and reveals the
//   name, audited), picks an AO code with the picker by keyboard alone, completes the case, and
//   finalises the complete registrations after reviewing the list;
// - a registration by hand routes like a captured one (a hip fracture is referred, in Norwegian);
// - the platform admin reprocesses a quarantined message once its cause is fixed;
// - the researcher asks for an extract and sees it delivered once the registry admin approves;
// - every page and error state, crawled for each role with lang=nb: no English reaches the page
//   (nor a variable's id), nothing scrolls sideways at 390 px, and axe finds nothing serious.
// KVALREG_SCREENSHOTS=1 saves the screenshots in docs/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { ninHash } from '../../src/identity/crypto.ts';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { traumaBundle } from '../../registries/trauma/bundles.ts';
import { choose, CHROMIUM_ARGS, findChromium, logIn, NO_CHROMIUM_IN_CI, scan, screenshot } from '../helpers/browser.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();

/** English words that are not also Norwegian words: one of them on a Norwegian page is a leak. */
const ENGLISH = [
  'the',
  'and',
  'of',
  'is',
  'are',
  'was',
  'were',
  'with',
  'not',
  'this',
  'that',
  'these',
  'must',
  'cannot',
  'nothing',
  'saved',
  'unknown',
  'missing',
  'error',
  'failed',
  'registry',
  'indicator',
  'indicators',
  'female',
  'male',
  'injury',
  'please',
  'your',
  'you',
  'found',
  'only',
  'has',
  'have',
  'should',
  'would',
  'which',
  'been',
  'from',
  'does',
  'when',
  'where',
  'what',
  'who',
  'loading',
  'submit',
  'page',
  'case',
  'cases',
  'unit',
  'units',
  'report',
  'reports',
  'too',
  'many',
  'requests',
  'retry',
  'after',
  'give',
  'valid',
  'invalid',
  'date',
  'there',
  'no',
  'yes',
  'log',
  'in',
  'out',
  'left',
  'right',
  'conservative',
  'operative',
].filter((w) => !['no', 'in', 'log'].includes(w));
const ENGLISH_RE = new RegExp(`\\b(${ENGLISH.join('|')})\\b`, 'i');
/** A variable's id shown as text (ao_code, injury_date): the codebook has its name. */
const VARIABLE_ID = /\b[a-z]+(?:_[a-z0-9]+)+\b/;

/** The visible text of the page, leaving out what is marked as another language and code (identifiers). */
async function visibleText(page: Page): Promise<string> {
  // Run in the page (the browser's DOM; this file is compiled without its types).
  return page.evaluate(`(() => {
    const out = [];
    const walk = (el) => {
      const lang = el.getAttribute('lang');
      if (lang && !/^(nb|no|nn)/.test(lang)) return;
      if (['SCRIPT', 'STYLE', 'CODE', 'TEMPLATE', 'NOSCRIPT', 'svg'].includes(el.tagName)) return;
      if (el.checkVisibility && !el.checkVisibility()) return;
      for (const n of Array.from(el.childNodes)) {
        if (n.nodeType === 3) { const t = (n.textContent || '').trim(); if (t) out.push(t); } else if (n.nodeType === 1) walk(n);
      }
      for (const attr of ['aria-label', 'placeholder', 'title', 'alt']) { const v = el.getAttribute(attr); if (v) out.push(v); }
    };
    walk(document.body);
    return out.join('\\n');
  })()`) as Promise<string>;
}

function leaks(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => ENGLISH_RE.test(line) || VARIABLE_ID.test(line))
    .map((l) => l.slice(0, 160));
}

describe.skipIf(!executablePath && !process.env.CI)("the workbench and the public's view, in the browser", () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let browser: Browser;
  let site: string;
  const patientNin = nin('1951-02-14', 'female');
  const ids: Record<string, number> = {};
  let quarantined: number;

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp(
      ['registrar', 'leser', 'registeradmin', 'admin', 'forsker', 'traumeregistrar']
        .map((u) => account(u))
        .concat([account('pasient', { pid: patientNin, name: 'Pia Pasient' })]),
      { site },
    );
    t = await testPlatform({ ...idp.env, KVALREG_PUBLIC_URL: site });
    const db = t.platform.db.pool;
    await setUser(db, {
      subject: 'sub-registrar',
      name: 'Sindre Stavanger',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
    });
    await setUser(db, {
      subject: 'sub-leser',
      name: 'Live Kalnes',
      grants: [{ registry: 'fracture', role: 'unit-reader', unit: OTHER_ORTHO }],
    });
    await setUser(db, {
      subject: 'sub-registeradmin',
      name: 'Reidun Register',
      grants: [
        { registry: 'fracture', role: 'registry-admin', unit: '1' },
        { registry: 'trauma', role: 'registry-admin', unit: '1' },
      ],
    });
    await setUser(db, { subject: 'sub-admin', name: 'Ada Drift', grants: [{ registry: '*', role: 'platform-admin', unit: '1' }] });
    await setUser(db, { subject: 'sub-forsker', name: 'Frida Forsker', grants: [{ registry: 'fracture', role: 'researcher', unit: '1' }] });
    await setUser(db, {
      subject: 'sub-traumeregistrar',
      name: 'Tora Traume',
      grants: [{ registry: 'trauma', role: 'unit-registrar', unit: SUS_HOSPITAL }],
    });
    await t.app.listen({ port, host: '127.0.0.1' });
    const post = async (bundle: unknown) =>
      t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(bundle),
      });
    // The patient's fracture: her name in the record, the code not yet given (the registrar picks it).
    const hers = fracture({
      id: 'dips-44001',
      nin: patientNin,
      name: { use: 'official', given: ['Kari'], family: 'Nordmann' },
      aoCode: '2R3A2.1',
      intent: undefined,
      injuryDateTime: '2025-03-01T10:00:00+01:00',
      firstContact: '2025-03-01T12:00:00+01:00',
    });
    expect((await post(ehrBundle(hers))).statusCode).toBe(200);
    ids.hers = (
      await db.query('SELECT c.id FROM registry_case c JOIN person p ON p.id = c.person_id WHERE p.nin_hash = $1', [
        ninHash(t.platform.keys, patientNin),
      ])
    ).rows[0].id;
    // Complete ones to finalise in bulk, incomplete ones for the worklist, across two years.
    for (let i = 0; i < 8; i++) {
      const at = `${i < 4 ? 2024 : 2025}-0${1 + (i % 8)}-1${i % 9}T10:00:00+0${i < 3 ? 1 : 2}:00`;
      expect(
        (
          await post(
            ehrBundle(
              fracture({
                id: `dips-5${i}`,
                name: { given: ['Ola'], family: `Hansen${i}` },
                injuryDateTime: at,
                firstContact: at,
                intent: i % 3 === 0 ? undefined : 'conservative',
              }),
            ),
          )
        ).statusCode,
      ).toBe(200);
    }
    expect((await post(ehrBundle(fracture({ id: 'dips-other', unitResh: OTHER_ORTHO })))).statusCode).toBe(200);
    // A trauma event with an invalid injury code.
    expect(
      (
        await post(
          traumaBundle({
            id: 'tr-1',
            nin: nin('1980-05-05', 'male'),
            name: { given: ['Per'], family: 'Traume' },
            unitResh: '8201102',
            arrival: '2025-06-01T10:00:00+02:00',
            traumaTeam: true,
            accident: { at: '2025-06-01T09:20:00+02:00' },
            mechanism: 'fall_high',
            intention: 'accident',
            injuryType: 'blunt',
            arrivalVitals: { gcs: 15, sbp: 120, rr: 16 },
            ais: ['853000.3', '85300.3'],
          }),
        )
      ).statusCode,
    ).toBe(200);
    ids.trauma = (await db.query("SELECT id FROM registry_case WHERE registry = 'trauma'")).rows[0].id;
    // A message whose unit the platform does not know yet: quarantined.
    const q = await post(ehrBundle(fracture({ id: 'dips-quarantine', unitResh: '7777777' })));
    expect(q.statusCode).toBe(422);
    quarantined = Number(q.headers['x-kvalreg-message']);
    await t.platform.analytics.refresh();
    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: CHROMIUM_ARGS });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
  });

  const main = (page: Page) => page.getByRole('main');

  it('lets the registrar find a patient by number, see who the case is about, pick the AO code by keyboard, complete it, and finalise after review', async () => {
    const { context, page } = await logIn(browser, site, 'registrar');
    // Find the patient.
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Finn pasient' }).click();
    await page.getByLabel('Fødselsnummer').fill(`${patientNin.slice(0, 6)} ${patientNin.slice(6)}`);
    await page.getByRole('button', { name: 'Søk' }).click();
    await page.getByRole('heading', { level: 1, name: 'Pasientens registreringer' }).waitFor();
    await expect.poll(() => page.getByTestId('patient-person').textContent()).toMatch(/^K\. N\., \d{6}\*{5}, \d+ år, kvinne$/);
    await screenshot(page, 'patient');
    await scan(page, 'patient');
    await page
      .getByTestId('patient-cases')
      .getByRole('link', { name: `Åpne registrering ${ids.hers}` })
      .click();
    await page.getByRole('heading', { level: 1, name: `Registrering ${ids.hers}` }).waitFor();
    // Who and what: initials and masked number, age, sex, the system and its own numbers, the date and code.
    const header = page.getByTestId('case-header');
    await expect.poll(() => header.getByTestId('case-person').textContent()).toMatch(/^K\. N\., \d{6}\*{5}, 74 år, kvinne$/);
    expect(await header.getByTestId('case-source').textContent()).toMatch(
      /SUS DIPS Arena, journal-\/saksnummer dips-44001, kontakt dips-44001/,
    );
    expect(await header.locator('[data-header="ao_code"]').textContent()).toMatch(
      /2R3A2\.1 Radius distalt, ekstraartikulær: enkel fraktur/,
    );
    await header.getByRole('button', { name: 'Vis navn og fødselsnummer' }).click();
    await expect.poll(() => header.getByTestId('case-person').textContent()).toBe(`Kari Nordmann, ${patientNin}, 74 år, kvinne`);
    const reveals = await t.platform.db.pool.query(
      "SELECT count(*)::int AS n FROM audit_event WHERE action = 'reveal' AND actor = 'user:sub-registrar'",
    );
    expect(reveals.rows[0].n).toBe(1);

    // The AO picker, by keyboard alone: open it, then bone → segment → type → group → subgroup.
    const skade = page.locator('[data-form="skade"]');
    await skade.getByRole('button', { name: /^Velg i bildene/ }).focus();
    await page.keyboard.press('Enter');
    const panel = skade.locator('.code-picker__panel');
    await panel.waitFor();
    // The panel opens where the chosen code sits: start again from the skeleton.
    await panel.getByRole('button', { name: 'Skjelettet' }).focus();
    await page.keyboard.press('Enter');
    const pick = async (code: string) => {
      const button = panel.locator(`button[data-choice="${code}"]`);
      await button.waitFor();
      // Tab to it from the first choice, as a keyboard user would.
      // (The callbacks run in the page; this file is compiled without the DOM's types.)
      const inPanel = () => panel.evaluate((el: any) => el.contains((globalThis as any).document.activeElement) as boolean);
      await expect.poll(inPanel, { timeout: 10_000 }).toBe(true);
      for (let i = 0; i < 200 && !(await button.evaluate((b: any) => b === (globalThis as any).document.activeElement)); i++)
        await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
    };
    await pick('2');
    await screenshot(page, 'ao-picker');
    await pick('23');
    await pick('2R3C');
    await pick('2R3C1');
    await pick('2R3C1.2');
    await expect.poll(() => skade.getByTestId('skade-main-ao_code-words').textContent()).toMatch(/^2R3C1\.2 /);
    await scan(page, 'ao-picker');
    await skade.getByRole('button', { name: 'Lagre' }).click();
    await skade.getByText('Lagret.').waitFor();
    expect(
      (
        await t.platform.db.pool.query(
          "SELECT data->>'ao_code' AS c FROM case_form WHERE registry = 'fracture' AND case_id = $1 AND form = 'skade'",
          [ids.hers],
        )
      ).rows[0].c,
    ).toBe('2R3C1.2');
    // The field's history: captured from the record, then changed by the registrar.
    await skade.locator('details[data-history="ao_code"] summary').click();
    // (The person by the name the login gave: the local provider's "Test registrar".)
    await expect
      .poll(() => skade.locator('details[data-history="ao_code"]').textContent(), { timeout: 30_000 })
      .toMatch(/2R3A2\.1\b[^→]* → 2R3C1\.2\b.*\(Test registrar\)/);
    // An old code typed in: "did you mean".
    const behandling = page.locator('[data-form="behandling"]');
    await behandling.getByLabel(/^Planlagt behandling/).selectOption('conservative');
    await behandling.getByRole('button', { name: 'Lagre' }).click();
    await behandling.getByText('Lagret.').waitFor();
    await screenshot(page, 'case-header');
    await scan(page, 'registration-case');

    // The worklist: who and what on each row; a search; then the reviewed bulk finalise.
    await page.goto(`${site}/registrations`);
    await page.getByRole('heading', { level: 1, name: 'Registreringer' }).waitFor();
    await expect
      .poll(() => page.locator('table.worklist-table').first().getByTestId('row-person').count(), { timeout: 30_000 })
      .toBeGreaterThan(0);
    // Every row says who: initials, the masked number, age and sex.
    for (const who of await page.locator('table.worklist-table').first().getByTestId('row-person').allTextContents()) {
      expect(who).toMatch(/^[A-ZÆØÅ]\. [A-ZÆØÅ]\., \d{6}\*{5}, \d+ år, (kvinne|mann)$/);
    }
    await screenshot(page, 'worklist');
    await scan(page, 'registrations');
    const bulk = page.locator('section.bulk-finalise');
    await expect
      .poll(() => bulk.getByTestId('finalisable-total').textContent(), { timeout: 30_000 })
      .toMatch(/^\d+ komplette registreringer er ikke ferdigstilt\.$/);
    const n = Number((await bulk.getByTestId('finalisable-total').textContent())!.match(/^\d+/)![0]);
    expect(n).toBeGreaterThan(3);
    expect(await bulk.getByRole('button', { name: `Ferdigstill ${n} registreringer` }).isDisabled()).toBe(true);
    await bulk.getByLabel(`Jeg har gått gjennom listen og vil ferdigstille alle ${n}`).check();
    await bulk.getByRole('button', { name: `Ferdigstill ${n} registreringer` }).click();
    await expect.poll(() => bulk.getByTestId('bulk-result').textContent(), { timeout: 30_000 }).toBe(`${n} registreringer er ferdigstilt.`);
    const finalised = await t.platform.db.pool.query(
      "SELECT count(DISTINCT case_id)::int AS n FROM value_history WHERE registry = 'fracture' AND source->>'bulk' = 'true'",
    );
    expect(finalised.rows[0].n).toBe(n);
    expect(
      (
        await t.platform.db.pool.query(
          "SELECT count(*)::int AS n FROM audit_event WHERE action = 'finalise' AND actor = 'user:sub-registrar'",
        )
      ).rows[0].n,
    ).toBe(n);
    await context.close();
  }, 300_000);

  it('registers a fracture by hand that routes like a captured one, and refers a hip fracture in Norwegian', async () => {
    const { context, page } = await logIn(browser, site, 'registrar');
    await page.goto(`${site}/registrations/new`);
    await page.getByRole('heading', { level: 1, name: 'Ny registrering' }).waitFor();
    const who = nin('1949-09-09', 'male');
    await page.getByLabel(/^Fødselsnummer/).fill(who);
    await page.getByLabel('Navn').fill('Olav Manuell');
    await page.getByLabel(/^Skadedato/).fill('2025-04-02');
    // The code by search: the hip first.
    await choose(page, 'AO/OTA-kode (påkrevd)', '31A1', /^31A1 /);
    await page.getByLabel(/^Side/).selectOption('left');
    await page.getByRole('button', { name: 'Opprett registreringen' }).click();
    await page.getByText('Registreringen hører til et annet register: Nasjonalt hoftebruddregister.').waitFor();
    await screenshot(page, 'manual');
    await scan(page, 'manual');
    // The wrist: included, on its case page, shown as registered by hand.
    await choose(page, 'AO/OTA-kode (påkrevd)', 'radius distalt ekstra', /^2R3A2 /);
    await page.getByRole('button', { name: 'Opprett registreringen' }).click();
    await page.getByRole('heading', { level: 1, name: /^Registrering \d+$/ }).waitFor();
    await expect.poll(() => page.getByTestId('case-source').textContent()).toBe('Registrert manuelt');
    const caseId = Number(new URL(page.url()).searchParams.get('case'));
    const row = (
      await t.platform.db.pool.query("SELECT anchor_key, unit_resh FROM registry_case WHERE registry = 'fracture' AND id = $1", [caseId])
    ).rows[0];
    expect(row).toMatchObject({ anchor_key: expect.stringMatching(/^manual:/), unit_resh: SUS_ORTHO });
    expect(
      (await t.platform.db.pool.query('SELECT decision FROM routing_decision WHERE anchor_key = $1', [row.anchor_key])).rows[0].decision,
    ).toBe('included');
    // Printable.
    await page.getByRole('link', { name: 'Utskriftsvennlig versjon' }).click();
    await page.getByRole('button', { name: 'Skriv ut' }).waitFor();
    await scan(page, 'print');
    await context.close();
  }, 180_000);

  it('lets the platform admin reprocess a quarantined message once its cause is fixed', async () => {
    const { context, page } = await logIn(browser, site, 'admin');
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Drift' }).click();
    await page.getByRole('heading', { level: 1, name: 'Drift' }).waitFor();
    const row = page.getByTestId('quarantine-table').locator(`tr[data-message="${quarantined}"]`);
    await row.waitFor();
    expect(await row.textContent()).toMatch(/7777777 is not known to the platform/);
    await screenshot(page, 'admin-quarantine');
    await scan(page, 'admin-quarantine');
    // The fix (the registry adds the unit), then processing again from the page.
    await t.platform.db.pool.query(
      `INSERT INTO org_unit (resh, parent_resh, level, kind, name_nb, path) SELECT '7777777', resh, 'department', 'orthopaedic', 'Ny avdeling', path || '7777777'::text FROM org_unit WHERE resh = '8201100'`,
    );
    await t.platform.reloadUnits();
    await row.getByRole('button', { name: `Behandle på nytt: melding ${quarantined}` }).click();
    await expect
      .poll(() => page.getByTestId('reprocess-result').textContent(), { timeout: 30_000 })
      .toBe(`Melding ${quarantined} er behandlet på nytt: behandlet.`);
    expect((await t.platform.db.pool.query('SELECT status FROM inbox_message WHERE id = $1', [quarantined])).rows[0].status).toBe(
      'processed',
    );
    for (const tab of ['Brukere og tilganger', 'Enheter', 'Logg']) {
      await page.getByRole('tab', { name: tab }).click();
      await page.getByRole('heading', { level: 2, name: tab }).waitFor();
      await scan(page, `admin-${tab}`);
    }
    await screenshot(page, 'admin-audit');
    await context.close();
  }, 120_000);

  it('lets the researcher ask for an extract, and see it delivered once the registry admin approves', async () => {
    const r = await logIn(browser, site, 'forsker');
    await r.page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Forskning' }).click();
    await r.page.getByRole('heading', { level: 1, name: 'Datauttrekk til forskning' }).waitFor();
    await r.page.getByLabel('Prosjekt', { exact: true }).fill('handledd-2025');
    await r.page.getByLabel('Godkjenning', { exact: true }).fill('REK 2025/4711');
    await r.page.getByLabel('Godkjent til', { exact: true }).fill('2030-12-31');
    await r.page.getByLabel('Formål', { exact: true }).fill('Utfall etter håndleddsbrudd');
    for (const v of ['AO/OTA-kode', 'Skadeenergi', 'Planlagt behandling'])
      await r.page.getByRole('checkbox', { name: v, exact: true }).check();
    await r.page.getByRole('button', { name: 'Send forespørselen' }).click();
    await r.page.getByText('Forespørselen er sendt. Du ser status her.').waitFor();
    await r.page.getByTestId('request-table').getByText('Til vurdering').waitFor();
    await screenshot(r.page, 'research');
    await scan(r.page, 'research');
    // The registry admin approves.
    const a = await logIn(browser, site, 'registeradmin');
    await a.page.goto(`${site}/research`);
    await a.page.getByRole('button', { name: 'Godkjenn og lag uttrekket' }).click();
    await a.page.getByText(/Uttrekket er laget/).waitFor();
    await scan(a.page, 'research-admin');
    await a.context.close();
    await r.page.reload();
    await expect
      .poll(() => r.page.getByTestId('request-table').locator('.request-status--delivered').textContent(), { timeout: 30_000 })
      .toMatch(/Levert$/);
    expect(await r.page.getByTestId('request-table').textContent()).toMatch(/rader levert/);
    await r.context.close();
  }, 180_000);

  it('shows no English on any Norwegian page or error state, and nothing scrolls sideways at 390 px', async () => {
    const failures: string[] = [];
    const visit = async (page: Page, path: string, label: string) => {
      await page.goto(`${site}${path}`);
      await page.getByRole('heading', { level: 1 }).first().waitFor();
      await page.waitForLoadState('networkidle');
      await page.waitForTimeout(300);
      const html = (await page.evaluate('document.documentElement.lang')) as string;
      if (html !== 'nb') failures.push(`${label} ${path}: <html lang="${html}">`);
      for (const line of leaks(await visibleText(page))) failures.push(`${label} ${path}: "${line}"`);
      const wide = (await page.evaluate('({ scroll: document.documentElement.scrollWidth, width: window.innerWidth })')) as {
        scroll: number;
        width: number;
      };
      if (wide.scroll > wide.width) failures.push(`${label} ${path}: scrolls sideways at 390 px (${wide.scroll} > ${wide.width})`);
    };
    const phone = { viewport: { width: 390, height: 844 }, locale: 'nb-NO', timezoneId: 'Europe/Oslo' };
    // A visitor.
    const visitor = await (await browser.newContext(phone)).newPage();
    // The typeface is the app's own (bundled), not a fallback serif.
    await visitor.goto(`${site}/`);
    await visitor.getByRole('heading', { level: 1 }).first().waitFor();
    const font = (await visitor.evaluate(`document.fonts.ready.then(() => ({ family: getComputedStyle(document.body).fontFamily,
      loaded: [...document.fonts].some((f) => f.family.replace(/["']/g, '').startsWith('Inter') && f.status === 'loaded') }))`)) as {
      family: string;
      loaded: boolean;
    };
    expect(font.family).toMatch(/^["']?Inter/);
    expect(font.loaded).toBe(true);
    for (const p of [
      '/',
      '/indicators',
      '/indicators/nfr01_time_to_treatment',
      '/analyses',
      '/hospitals',
      `/hospitals?hospital=${SUS_HOSPITAL}`,
      '/indicators?registry=trauma',
      '/indicators/nfr01_time_to_treatment?registry=trauma',
      '/registrations',
      '/innsyn',
      '/research',
      '/admin',
      '/no-such-page',
    ])
      await visit(visitor, p, 'visitor');
    await visitor.goto(`${site}/hospitals?hospital=${SUS_HOSPITAL}`);
    await visitor.locator('table.indicator-table').waitFor();
    await screenshot(visitor, 'mobile-hospital-profile');
    // The profile's links to another registry's indicators open that registry's indicator (they
    // used to open "Registry fracture has no indicator …").
    const traumaLink = visitor.locator('table.indicator-table a[href*="registry=trauma"]').first();
    const title = (await traumaLink.textContent())!.replace(/^\d+\.\s*/, '');
    await traumaLink.click();
    await visitor.getByRole('heading', { level: 1, name: title }).waitFor();
    expect(visitor.url()).toContain('registry=trauma');
    for (const line of leaks(await visibleText(visitor))) failures.push(`visitor trauma indicator from the profile: "${line}"`);
    await visitor.context().close();
    // Each role, on a phone.
    const paths: Record<string, string[]> = {
      registrar: [
        '/',
        '/indicators',
        '/indicators/nfr01_time_to_treatment',
        '/registrations',
        `/registrations?case=${ids.hers}`,
        '/registrations?case=999999',
        '/registrations?form=skade&sort=-date',
        '/registrations/new',
        `/print?case=${ids.hers}`,
        '/print?form=blank',
        '/patients',
        '/reports',
        '/analyses',
        '/follow-up',
        '/no-such-page',
      ],
      leser: ['/', '/registrations', `/registrations?case=${ids.hers}`, '/patients', '/reports', '/follow-up'],
      traumeregistrar: ['/', `/registrations?case=${ids.trauma}`, '/registrations', '/indicators'],
      registeradmin: ['/', '/reports', '/research', '/registrations'],
      admin: ['/admin', '/admin?tab=users', '/admin?tab=units', '/admin?tab=audit', '/research'],
      forsker: ['/', '/research', '/indicators'],
      pasient: ['/innsyn'],
    };
    for (const [user, list] of Object.entries(paths)) {
      const { context, page } = await logIn(browser, site, user);
      await page.setViewportSize({ width: 390, height: 844 });
      for (const p of list) await visit(page, p, user);
      if (user === 'registrar') {
        // A direct load of the reports page: the subscription button is ready once the own unit is
        // (it used to stay disabled when the unit was chosen before the session arrived).
        await page.goto(`${site}/reports`);
        await expect.poll(() => page.getByRole('button', { name: 'Abonner', exact: true }).isEnabled(), { timeout: 30_000 }).toBe(true);
        await screenshot(page, 'mobile-reports');
      }
      if (user === 'leser') {
        // The reader's worklist count links to the (read-only) worklist.
        await page.goto(`${site}/`);
        await page.getByTestId('worklist-count').waitFor();
        await page.getByRole('link', { name: 'Åpne arbeidslisten' }).click();
        await page.getByRole('heading', { level: 1, name: 'Registreringer' }).waitFor();
      }
      if (user === 'traumeregistrar') {
        await page.goto(`${site}/registrations?case=${ids.trauma}`);
        await page.getByTestId('case-header').waitFor();
        // The trauma event's scores in its header.
        for (const v of ['iss', 'niss', 'rts_arrival', 'triss_ps']) await page.locator(`[data-header="${v}"]`).waitFor();
        await screenshot(page, 'mobile-trauma-event');
      }
      await context.close();
    }
    // The error states that come from the server: a refused save (a date in the future), and the rate limit.
    const { context, page } = await logIn(browser, site, 'registrar');
    // (A case still open: hers was finalised in bulk above.)
    const open = (
      await t.platform.db.pool.query(
        `SELECT c.id FROM registry_case c WHERE c.registry = 'fracture' AND c.unit_resh = $1
      AND NOT EXISTS (SELECT 1 FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id AND f.status = 'finalised') ORDER BY c.id LIMIT 1`,
        [SUS_ORTHO],
      )
    ).rows[0].id;
    await page.goto(`${site}/registrations?case=${open}`);
    const skade = page.locator('[data-form="skade"]');
    await skade.getByLabel(/^Skadedato/).fill('2031-01-01');
    await skade.getByRole('button', { name: 'Lagre' }).click();
    await skade.getByTestId('problem-injury_date').getByText('Datoen er fram i tid. Det som registreres har allerede skjedd.').waitFor();
    for (const line of leaks(await visibleText(page))) failures.push(`registrar refused save: "${line}"`);
    await context.close();
    expect(failures).toEqual([]);
  }, 900_000);
});
