// The patient's PROM form and the unit's follow-up worklist, end to end in Chromium: the invitation
// travels over SMTP to a real SMTP server the test starts; the patient opens the link on a phone
// (390 px wide), logs in through the local OpenID provider's own page, answers part of the form,
// leaves, comes back, finds the answers kept, answers the rest with a wish for a check-up, and gets
// a receipt; the registrar finds the patient on the follow-up worklist with the answers summarised,
// beside a patient marked "no visit needed", and changes the assessment with a reason. Every page is
// scanned with axe (WCAG 2.1 A/AA): no serious or critical findings. KVALREG_SCREENSHOTS=1 saves
// screenshots into docs/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { setUser } from '../../src/auth/sessions.ts';
import { createToken } from '../../src/auth/tokens.ts';
import { ehrBundle, plannerBundle } from '../../registries/fracture/bundles.ts';
import { ninHash } from '../../src/identity/crypto.ts';
import { setContact } from '../../src/prom/contacts.ts';
import { fracture, nin } from '../helpers/fixtures.ts';
import { mimeParts, startTestInbox, type TestInbox } from '../helpers/mail.ts';
import { CHROMIUM_ARGS, findChromium, logIn, NO_CHROMIUM_IN_CI, scan, screenshot } from '../helpers/browser.ts';
import { account, freePort, startTestIdp, type TestIdp } from '../helpers/login.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();
const PLATFORM = { kind: 'platform', task: 'test' } as const;
const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: 'nb-NO',
  timezoneId: 'Europe/Oslo',
};

/** The text of an e-mail: its text/plain part, or the body of a single-part message (quoted-printable decoded). */
function textOf(raw: string): string {
  const part = mimeParts(raw).find((p) => p.type === 'text/plain');
  if (part) return part.body.toString('utf8');
  const [head, ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\n\n');
  if (!/quoted-printable/i.test(head)) return body;
  return Buffer.from(
    body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

describe.skipIf(!executablePath && !process.env.CI)('the PROM form and the follow-up worklist in the browser', () => {
  let t: TestPlatform;
  let idp: TestIdp;
  let inbox: TestInbox;
  let browser: Browser;
  let site: string;
  let link = '';
  const patientNin = nin('1961-04-12', 'female');
  const otherNin = nin('1955-09-03', 'male');
  const thirdNin = nin('1938-02-20', 'female');
  let caseId = 0,
    otherCase = 0,
    thirdInvitation = 0;

  // The injury 42 days ago (the 6-week time point is due today), operated the next day.
  const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  async function operatedWristFracture(n: string, email?: string) {
    const f = fracture({
      nin: n,
      aoCode: '2R3A2',
      side: 'right',
      unitResh: SUS_ORTHO,
      injuryDateTime: `${day(-42)}T10:00:00Z`,
      firstContact: `${day(-42)}T11:00:00Z`,
      intent: 'operative',
      surgery: { start: `${day(-41)}T09:00:00Z` },
    });
    for (const b of [ehrBundle(f), plannerBundle(f)]) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(b),
      });
      expect(res.statusCode, res.body).toBeLessThan(300);
    }
    const row = (await t.platform.db.pool.query('SELECT id, person_id FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`])).rows[0];
    if (email)
      await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
        setContact(tx, t.platform.keys, Number(row.person_id), { email }, 'test'),
      );
    return { caseId: Number(row.id), personId: Number(row.person_id) };
  }

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    inbox = await startTestInbox();
    const port = await freePort();
    site = `http://localhost:${port}`;
    idp = await startTestIdp(
      [
        account('pasient', { pid: patientNin, name: 'Pia Pasient' }),
        account('registrar', { name: 'Sindre Stavanger' }),
        account('datter', { pid: nin('1966-08-08', 'female'), name: 'Dina Datter' }),
      ],
      { site },
    );
    t = await testPlatform({ ...idp.env, KVALREG_SMTP_URL: inbox.url, KVALREG_PROM_CHANNELS: 'email', KVALREG_PUBLIC_URL: site });
    await setUser(t.platform.db.pool, {
      subject: 'sub-registrar',
      name: 'Sindre Stavanger',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: SUS_ORTHO }],
    });
    caseId = (await operatedWristFracture(patientNin, 'pia@example.no')).caseId;
    const other = await operatedWristFracture(otherNin);
    otherCase = other.caseId;
    // A patient without e-mail: the letter with the one-time code goes by post, and her daughter answers.
    const third = await operatedWristFracture(thirdNin);
    await t.platform.analytics.refresh();
    await t.platform.prom.runDue(new Date());
    // Invitations go out at 09:00 Norwegian time on the day they fall due: send them at that hour (or now, if later).
    const sendAt = (await t.platform.db.pool.query('SELECT max(send_at) AS at FROM prom_invitation')).rows[0].at as Date;
    await t.platform.prom.sender.run(new Date(Math.max(Date.now(), sendAt.getTime())));
    thirdInvitation = Number(
      (await t.platform.db.pool.query('SELECT DISTINCT invitation_id FROM prom_item WHERE case_id = $1', [third.caseId])).rows[0]
        .invitation_id,
    );
    await t.app.listen({ port, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await idp?.idp.close();
    await inbox?.close();
  });

  async function logInAsPatient(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(link);
    await page.getByRole('heading', { level: 1, name: 'Spørsmål om helsen din' }).waitFor();
    await page.getByRole('button', { name: 'Logg inn for å svare' }).click();
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Brukernavn / Username').fill('pasient');
    await page.getByLabel('Passord / Password').fill('demo');
    await page.getByRole('button', { name: 'Logg inn', exact: true }).click();
    await page.waitForURL(link);
    await page.getByRole('heading', { level: 2, name: /Del 1 av 3/ }).waitFor();
    return page;
  }
  /** Chooses the answer option at `index` (0-based) of a question. */
  const choose = (page: Page, linkId: string, index: number) =>
    page.locator(`fieldset[data-linkid="${linkId}"]`).getByRole('radio').nth(index).check();

  it('sends the invitation by e-mail over SMTP, neutral in its words, with the link to the form', async () => {
    expect(inbox.mails.map((m) => m.to)).toEqual([['pia@example.no']]);
    const text = textOf(inbox.mails[0].raw);
    expect(text).toMatch(/Stavanger universitetssjukehus ber deg svare på noen spørsmål om helsen din/);
    expect(text).not.toMatch(/brudd|håndledd|fraktur/i);
    link = new RegExp(`${site}/prom/[A-Za-z0-9._-]+`).exec(text)?.[0] ?? '';
    expect(link).not.toBe('');
  });

  it('on a phone: the patient logs in, answers part, is told what is missing, saves and leaves', async () => {
    const context = await browser.newContext(PHONE);
    const page = await context.newPage();
    await page.goto(link);
    await page.getByRole('button', { name: 'Logg inn for å svare' }).waitFor();
    await scan(page, 'prom login');
    await screenshot(page, 'prom-login');
    await page.close();
    const form = await logInAsPatient(context);
    // Nothing runs off the side of a 390-px screen.
    expect(await form.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await form.getByText('Fra Stavanger universitetssjukehus.').waitFor();
    await choose(form, 'mobility', 1);
    await choose(form, 'selfcare', 0);
    await choose(form, 'usual', 1);
    await form.getByRole('button', { name: 'Send denne delen' }).click();
    // Clear validation: an error summary naming each question left, each linked to its question.
    const summary = form.getByText('Rett dette før du sender:');
    await summary.waitFor();
    const links = form.locator('.prom-errors a');
    expect(await links.count()).toBe(3);
    expect(await links.first().textContent()).toMatch(/Svar på dette spørsmålet\./);
    await scan(form, 'prom form with errors');
    await screenshot(form, 'prom-form-errors');
    await links.last().click();
    expect(await form.evaluate('document.activeElement?.id')).toMatch(/vas$/);
    await form.getByRole('button', { name: 'Lagre og fortsett senere' }).click();
    await form.getByText('Svarene er lagret.').waitFor();
    await context.close();
    const draft = (await t.platform.db.pool.query(`SELECT status, answers FROM prom_response WHERE instrument = 'eq5d5l'`)).rows;
    expect(draft).toEqual([{ status: 'draft', answers: { mobility: '2', selfcare: '1', usual: '2' } }]);
  });

  it('comes back, finds the answers kept, sends every part with a wish for a check-up, and gets a receipt', async () => {
    const context = await browser.newContext(PHONE);
    const form = await logInAsPatient(context);
    expect(await form.locator('fieldset[data-linkid="mobility"]').getByRole('radio').nth(1).isChecked()).toBe(true);
    expect(await form.locator('fieldset[data-linkid="usual"]').getByRole('radio').nth(1).isChecked()).toBe(true);
    await choose(form, 'pain', 1);
    await choose(form, 'anxiety', 0);
    await form.getByRole('spinbutton').fill('70');
    await scan(form, 'prom form');
    await screenshot(form, 'prom-form');
    await form.getByRole('button', { name: 'Send denne delen' }).click();
    await form.getByRole('heading', { level: 2, name: /Del 2 av 3: Ankerspørsmål/ }).waitFor();
    await form.getByRole('radio', { name: 'Fornøyd', exact: true }).check();
    await form.getByRole('radio', { name: 'Bedre', exact: true }).check();
    await choose(form, 'wants_visit', 0); // Ja: wants a check-up
    await form.getByLabel(/Er det noe annet du vil at behandlerne skal vite/).fill('Stiv i fingrene om morgenen.');
    await form.getByRole('button', { name: 'Send denne delen' }).click();
    await form.getByRole('heading', { level: 2, name: /Del 3 av 3: PRWHE/ }).waitFor();
    // PRWHE: 15 items on a 0–10 scale; low values.
    const scales = form.locator('fieldset.q-scale');
    expect(await scales.count()).toBe(15);
    for (let i = 0; i < 15; i++) await scales.nth(i).getByRole('radio', { name: '1', exact: true }).check();
    await scan(form, 'prom scale part');
    await screenshot(form, 'prom-form-scale');
    await form.getByRole('button', { name: 'Send svarene' }).click();
    await form.getByRole('heading', { name: 'Takk! Svarene dine er sendt' }).waitFor();
    await form.getByText('Kvitteringsnummer').waitFor();
    expect(await form.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await scan(form, 'prom receipt');
    await screenshot(form, 'prom-receipt');
    await context.close();

    const inv = (
      await t.platform.db.pool.query(
        `SELECT v.status FROM prom_invitation v JOIN prom_item i ON i.invitation_id = v.id WHERE i.case_id = $1 LIMIT 1`,
        [caseId],
      )
    ).rows[0];
    expect(inv.status).toBe('answered');
    const responses = (
      await t.platform.db.pool.query(
        `SELECT r.instrument, r.status, r.provenance FROM prom_response r JOIN prom_item i ON i.response_id = r.id WHERE i.case_id = $1 ORDER BY r.instrument`,
        [caseId],
      )
    ).rows;
    expect(responses).toEqual(
      ['anchor', 'eq5d5l', 'prwhe'].map((instrument) => ({ instrument, status: 'completed', provenance: { kind: 'patient' } })),
    );
    const triage = (await t.platform.db.pool.query('SELECT decision, reasons FROM prom_triage WHERE case_id = $1', [caseId])).rows[0];
    expect(triage.decision).toBe('visit');
    expect(triage.reasons.map((r: any) => r.kind)).toEqual(['request']);
  });

  it("a proxy logs in as herself, gives the code from the letter, and answers on the patient's behalf", async () => {
    const letterLink = `${site}/prom/${t.platform.prom.links.token(thirdInvitation)}`;
    const code = t.platform.prom.links.code(thirdInvitation);
    const context = await browser.newContext(PHONE);
    const page = await context.newPage();
    await page.goto(letterLink);
    await page.getByRole('button', { name: 'Logg inn for å svare' }).click();
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Brukernavn / Username').fill('datter');
    await page.getByLabel('Passord / Password').fill('demo');
    await page.getByRole('button', { name: 'Logg inn', exact: true }).click();
    await page.waitForURL(letterLink);
    await page.getByRole('heading', { name: 'Svarer du for en annen?' }).waitFor();
    await page.getByRole('button', { name: 'Fortsett' }).click();
    await page.getByText('Skriv inn koden fra brevet.').waitFor();
    await page.getByText('Velg hvem du er for pasienten.').waitFor();
    await scan(page, 'proxy code');
    await page.getByLabel(/Kode fra brevet/).fill('ABCD-EFGH');
    await page.getByRole('radio', { name: 'Annen pårørende' }).check();
    await page.getByRole('button', { name: 'Fortsett' }).click();
    await page.getByText('Koden stemmer ikke.').waitFor();
    await screenshot(page, 'prom-proxy');
    await page.getByLabel(/Kode fra brevet/).fill(code.toLowerCase());
    await page.getByRole('button', { name: 'Fortsett' }).click();
    await page.getByText('Du svarer på vegne av pasienten.').waitFor();
    await page.getByRole('heading', { level: 2, name: /Del 1 av 3/ }).waitFor();
    await choose(page, 'mobility', 2);
    await page.getByRole('button', { name: 'Lagre og fortsett senere' }).click();
    await page.getByText('Svarene er lagret.').waitFor();
    await scan(page, 'proxy form');
    await context.close();
    const saved = (
      await t.platform.db.pool.query('SELECT provenance, answers FROM prom_response WHERE invitation_id = $1', [thirdInvitation])
    ).rows;
    expect(saved).toEqual([{ provenance: { kind: 'proxy', relation: 'relative', user: 'user:sub-datter' }, answers: { mobility: '3' } }]);
  });

  it('the registrar sees both lists, with the answers summarised, and changes an assessment with a reason', async () => {
    // The other patient answers through the API: below every threshold, no wish for a visit.
    const inv = (
      await t.platform.db.pool.query(
        'SELECT v.id FROM prom_invitation v JOIN prom_item i ON i.invitation_id = v.id WHERE i.case_id = $1 LIMIT 1',
        [otherCase],
      )
    ).rows[0];
    const token = t.platform.prom.links.token(Number(inv.id));
    const login = await createToken(t.platform.db.pool, {
      name: 'other-patient',
      kind: 'user',
      grants: [{ registry: '*', role: 'patient', unit: '1' }],
      personHash: ninHash(t.platform.keys, otherNin),
    });
    const answers: Record<string, Record<string, unknown>> = {
      eq5d5l: { mobility: '1', selfcare: '1', usual: '1', pain: '2', anxiety: '1', vas: 85 },
      anchor: { satisfaction: '1', change: '1', wants_visit: false },
      prwhe: Object.fromEntries(
        [
          ...[1, 2, 3, 4, 5].map((i) => `pain${i}`),
          ...[1, 2, 3, 4, 5, 6].map((i) => `func${i}`),
          ...[1, 2, 3, 4].map((i) => `usual${i}`),
        ].map((k) => [k, 2]),
      ),
    };
    for (const [instrument, a] of Object.entries(answers)) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/api/prom/form/${token}/${instrument}/submit`,
        headers: { authorization: `Bearer ${login}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ answers: a }),
      });
      expect(res.statusCode, res.body).toBe(200);
    }

    const { context, page } = await logIn(browser, site, 'registrar');
    await page.getByRole('navigation', { name: 'Hovedmeny' }).getByRole('link', { name: 'Oppfølging' }).click();
    await page.getByRole('heading', { level: 1, name: 'Digital hjemmeoppfølging' }).waitFor();
    await page.getByRole('tab', { name: 'Trenger kontroll (1)' }).waitFor();
    const card = page.locator('.fu-card').filter({ hasText: `Registrering ${caseId}` });
    await card.getByText('Pasienten ønsker kontroll').waitFor();
    await card.getByRole('cell', { name: /Stiv i fingrene om morgenen/ }).waitFor();
    await card
      .getByRole('row', { name: /PRWHE.*Totalskår|PRWHE.*total/i })
      .first()
      .waitFor();
    await page.getByText('Terskelverdiene er foreløpige').waitFor();
    await scan(page, 'follow-up worklist');
    await screenshot(page, 'prom-follow-up');

    await page.getByRole('tab', { name: 'Ikke behov for kontroll (1)' }).click();
    await page
      .locator('.fu-card')
      .filter({ hasText: `Registrering ${otherCase}` })
      .getByText('Ingen svar krysser terskelverdiene.')
      .waitFor();
    await page.getByRole('tab', { name: 'Trenger kontroll (1)' }).click();

    // Change the assessment: a reason is required.
    await page
      .locator('.fu-card')
      .filter({ hasText: `Registrering ${caseId}` })
      .getByRole('button', { name: 'Endre vurdering' })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('radio', { name: 'Ikke behov for kontroll' }).check();
    await dialog.getByRole('button', { name: 'Lagre vurderingen' }).click();
    await dialog.getByText('Skriv en begrunnelse.').waitFor();
    await scan(page, 'follow-up override dialog');
    await dialog.getByLabel('Begrunnelse').fill('Ringt opp: ønsker likevel å vente, tar kontakt ved behov.');
    await dialog.getByRole('button', { name: 'Lagre vurderingen' }).click();
    await page.getByText('Vurderingen er endret.').waitFor();
    await page.getByRole('tab', { name: 'Ikke behov for kontroll (2)' }).click();
    const changed = page.locator('.fu-card').filter({ hasText: `Registrering ${caseId}` });
    await changed.getByText(/Endret av user:sub-registrar/).waitFor();
    await changed.getByText('Historikk').click();
    await changed
      .getByText(/Ringt opp: ønsker likevel å vente/)
      .first()
      .waitFor();
    await screenshot(page, 'prom-follow-up-changed');
    await context.close();

    const events = (
      await t.platform.db.pool.query('SELECT kind, actor, decision, reason FROM prom_triage_event WHERE case_id = $1 ORDER BY id', [caseId])
    ).rows;
    expect(events.map((e) => [e.kind, e.actor, e.decision])).toEqual([
      ['automatic', 'platform:prom-triage', 'visit'],
      ['override', 'user:sub-registrar', 'no-visit'],
    ]);
    const read = (
      await t.platform.db.pool.query(
        `SELECT count(*)::int AS n FROM audit_event WHERE actor = 'user:sub-registrar' AND action = 'list' AND object = 'fracture/prom/follow-up/${SUS_ORTHO}'`,
      )
    ).rows[0];
    expect(read.n).toBeGreaterThan(0);
  });
});
