// Report subscriptions and dispatches through a real SMTP server started here: the e-mail arrives
// with its PDF, a refused delivery is retried with backoff and logged, the unsubscribe link works
// without login, expired subscriptions stop, and users see and delete only their own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { mimeParts as parts, startTestInbox, type Mail, type TestInbox } from './helpers/mail.ts';
import { pdfInfo } from './helpers/pdf.ts';
import { SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let smtp: TestInbox;
let inbox: Mail[];
let refuse: Set<string>; // recipients the server refuses (once each)
const RETRY_MS = 60_000;

beforeAll(async () => {
  smtp = await startTestInbox();
  inbox = smtp.mails;
  refuse = smtp.refuse;
  t = await testPlatform({
    KVALREG_SMTP_URL: smtp.url,
    KVALREG_MAIL_FROM: 'Norsk frakturregister <rapport@kvalreg.test>',
    KVALREG_PUBLIC_URL: 'https://kvalreg.test',
    KVALREG_REPORT_RETRY_BASE_MS: String(RETRY_MS),
  });
  for (let i = 0; i < 6; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(
        ehrBundle(
          fracture({
            injuryDateTime: `${new Date().getFullYear()}-01-0${i + 1}T10:00:00+01:00`,
            firstContact: `${new Date().getFullYear()}-01-0${i + 1}T12:00:00+01:00`,
          }),
        ),
      ),
    });
    expect(res.statusCode).toBeLessThan(300);
  }
  await t.platform.analytics.refresh();
});
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const api = (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: unknown) =>
  t.app.inject({
    method,
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    payload: body ? JSON.stringify(body) : undefined,
  });
const days = (n: number, from = Date.now()) => new Date(from + n * 86_400_000);

const linkIn = (m: Mail) => {
  const text = parts(m.raw)
    .find((p) => p.type === 'text/plain')!
    .body.toString('utf8');
  return /https:\/\/kvalreg\.test(\/api\/unsubscribe\?token=\S+)/.exec(text)![1];
};

describe("a user's own subscription", () => {
  let id: number;

  it('is created, listed only for its owner, and refused with clear messages when wrong', async () => {
    const bad = await api('POST', '/api/registries/fracture/subscriptions', t.tokens.registrarSus, {
      report: 'unit',
      unit: SUS_ORTHO,
      frequency: 'hourly',
      email: 'leder@sus.test',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/frequency must be one of daily, weekly, monthly, quarterly/);
    const badMail = await api('POST', '/api/registries/fracture/subscriptions', t.tokens.registrarSus, {
      report: 'unit',
      unit: SUS_ORTHO,
      frequency: 'weekly',
      email: 'not-an-address',
    });
    expect(badMail.json().error).toMatch(/Not an e-mail address: not-an-address/);
    const res = await api('POST', '/api/registries/fracture/subscriptions', t.tokens.registrarSus, {
      report: 'unit',
      unit: SUS_ORTHO,
      frequency: 'weekly',
      email: 'Leder@SUS.test',
    });
    expect(res.statusCode, res.body).toBe(201);
    id = res.json().id;
    expect(res.json()).toMatchObject({
      report: 'unit',
      unit: SUS_ORTHO,
      frequency: 'weekly',
      recipients: ['leder@sus.test'],
      active: true,
    });
    expect(new Date(res.json().nextRunAt).getTime()).toBeGreaterThan(days(6).getTime());
    expect((await api('GET', '/api/subscriptions', t.tokens.registrarSus)).json().map((s: any) => s.id)).toEqual([id]);
    expect((await api('GET', '/api/subscriptions', t.tokens.readerOther)).json()).toEqual([]);
    expect((await api('DELETE', `/api/subscriptions/${id}`, t.tokens.readerOther)).statusCode).toBe(404);
  });

  it('sends nothing before it is due, then the unit report as a PDF by e-mail', async () => {
    expect(await t.platform.reports.dispatch.runDue(new Date())).toMatchObject({ queued: 0, sent: 0 });
    expect(inbox).toHaveLength(0);
    const run = await t.platform.reports.dispatch.runDue(days(8));
    expect(run).toMatchObject({ queued: 1, sent: 1, failed: 0 });
    expect(inbox).toHaveLength(1);
    const mail = inbox[0];
    expect(mail.to).toEqual(['leder@sus.test']);
    expect(mail.from).toBe('rapport@kvalreg.test');
    expect(mail.raw).toMatch(/List-Unsubscribe:\s+<https:\/\/kvalreg\.test\/api\/unsubscribe\?token=/);
    const pdf = parts(mail.raw).find((p) => p.type === 'application/pdf')!;
    expect(pdf.filename).toMatch(/^fracture-unit-8201101-\d{4}-\d{2}-\d{2}\.pdf$/);
    expect(pdf.body.subarray(0, 4).toString()).toBe('%PDF');
    expect(pdfInfo(pdf.body).Title).toBe('Norsk frakturregister – Ortopedisk avdeling, Stavanger universitetssjukehus');
    // The next one is a week later: running again the same day sends nothing more.
    expect(await t.platform.reports.dispatch.runDue(days(8))).toMatchObject({ queued: 0, sent: 0 });
  });

  it('is ended by the unsubscribe link, without login', async () => {
    const link = linkIn(inbox[0]);
    const page = await api('GET', link);
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/<form method="post"/);
    expect((await api('GET', '/api/subscriptions', t.tokens.registrarSus)).json()[0].active).toBe(true); // looking is not unsubscribing
    const done = await api('POST', link);
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toMatchObject({ unsubscribed: true, subscription: id, recipient: 'leder@sus.test' });
    expect((await api('GET', '/api/subscriptions', t.tokens.registrarSus)).json()[0].active).toBe(false);
    expect(await t.platform.reports.dispatch.runDue(days(40))).toMatchObject({ queued: 0, sent: 0 });
    const forged = await api(
      'POST',
      link.replace(/token=([^.]+)\.(.)/, (_m, p: string, c: string) => `token=${p}.${c === 'A' ? 'B' : 'A'}`),
    );
    expect(forged.statusCode).toBe(400);
    expect(forged.json().error).toMatch(/not valid/);
    expect((await api('DELETE', `/api/subscriptions/${id}`, t.tokens.registrarSus)).statusCode).toBe(204);
  });
});

describe('a dispatch to a mailing list', () => {
  let id: number;
  let start: number; // an hour after the dispatch fell due, 100 days on: the retries below happen before it is due again

  it('is set up by registry admins only', async () => {
    const body = {
      report: 'indicator',
      indicator: 'nfr01_time_to_treatment',
      unit: SUS_HOSPITAL,
      frequency: 'daily',
      recipients: ['a@sus.test', 'b@sus.test'],
    };
    expect((await api('POST', '/api/registries/fracture/dispatches', t.tokens.registrarSus, body)).statusCode).toBe(403);
    const unknown = await api('POST', '/api/registries/fracture/dispatches', t.tokens.admin, { ...body, indicator: 'nfr99' });
    expect(unknown.json().error).toMatch(/no indicator "nfr99"/);
    const res = await api('POST', '/api/registries/fracture/dispatches', t.tokens.admin, body);
    expect(res.statusCode, res.body).toBe(201);
    id = res.json().id;
    start = new Date(res.json().nextRunAt).getTime() + 99 * 86_400_000 + 3_600_000;
    expect(res.json().owner).toBeNull();
    expect((await api('GET', '/api/registries/fracture/dispatches', t.tokens.admin)).json().map((s: any) => s.id)).toEqual([id]);
  });

  it('retries a refused delivery with backoff and logs every attempt', async () => {
    inbox.length = 0;
    refuse.add('a@sus.test');
    const first = await t.platform.reports.dispatch.runDue(new Date(start));
    expect(first).toMatchObject({ queued: 2, sent: 1, failed: 1 });
    expect(inbox.map((m) => m.to[0])).toEqual(['b@sus.test']);
    // Not yet: the retry waits for the backoff.
    expect(await t.platform.reports.dispatch.runDue(new Date(start + RETRY_MS / 2))).toMatchObject({ sent: 0, failed: 0 });
    expect(await t.platform.reports.dispatch.runDue(new Date(start + RETRY_MS + 1000))).toMatchObject({ sent: 1, failed: 0 });
    expect(inbox.map((m) => m.to[0]).sort()).toEqual(['a@sus.test', 'b@sus.test']);
    const pdf = parts(inbox.find((m) => m.to[0] === 'a@sus.test')!.raw).find((p) => p.type === 'application/pdf')!;
    expect(pdf.body.subarray(0, 4).toString()).toBe('%PDF');
    expect(pdfInfo(pdf.body).Title).toMatch(/^1\. Tid fra skaden til behandlingsstart/);
    const log = (await api('GET', `/api/registries/fracture/dispatches/${id}/deliveries`, t.tokens.admin)).json();
    const forA = log.filter((d: any) => d.recipient === 'a@sus.test');
    expect(forA.map((d: any) => [d.attempt, d.outcome])).toEqual([
      [1, 'failed'],
      [2, 'sent'],
    ]);
    expect(forA[0].error).toMatch(/Mailbox busy/);
    // Only under its own registry.
    expect((await api('GET', `/api/registries/trauma/dispatches/${id}/deliveries`, t.tokens.admin)).statusCode).toBe(404);
  });

  it('stops sending to a recipient who unsubscribed, and keeps sending to the others', async () => {
    inbox.length = 0;
    const token = t.platform.reports.dispatch.unsubscribeToken(id, 'b@sus.test');
    expect((await api('POST', `/api/unsubscribe?token=${encodeURIComponent(token)}`)).statusCode).toBe(200);
    const run = await t.platform.reports.dispatch.runDue(days(2, start));
    expect(run).toMatchObject({ queued: 1, sent: 1 });
    expect(inbox.map((m) => m.to[0])).toEqual(['a@sus.test']);
  });

  it('ends at its expiry', async () => {
    inbox.length = 0;
    const res = await api('POST', '/api/registries/fracture/dispatches', t.tokens.admin, {
      report: 'unit',
      unit: SUS_ORTHO,
      frequency: 'daily',
      recipients: ['c@sus.test'],
      expires: days(3).toISOString(),
    });
    expect(res.statusCode).toBe(201);
    expect(
      (
        await api('POST', '/api/registries/fracture/dispatches', t.tokens.admin, {
          report: 'unit',
          unit: SUS_ORTHO,
          frequency: 'daily',
          recipients: ['c@sus.test'],
          expires: '2001-01-01',
        })
      ).json().error,
    ).toMatch(/future/);
    await api('DELETE', `/api/registries/fracture/dispatches/${id}`, t.tokens.admin);
    const run = await t.platform.reports.dispatch.runDue(days(5));
    expect(run).toMatchObject({ expired: 1, queued: 0, sent: 0 });
    expect(inbox).toHaveLength(0);
  });
});

describe('sending now, outside the schedule', () => {
  it('delivers the report at once, logs it for its owner, re-sends on request, and refuses others and ended subscriptions', async () => {
    inbox.length = 0;
    const res = await api('POST', '/api/registries/fracture/subscriptions', t.tokens.registrarSus, {
      report: 'unit',
      unit: SUS_ORTHO,
      frequency: 'monthly',
      email: 'now@sus.test',
    });
    const id = res.json().id;
    expect((await api('POST', `/api/subscriptions/${id}/send`, t.tokens.readerOther)).statusCode).toBe(404);
    const sent = await api('POST', `/api/subscriptions/${id}/send`, t.tokens.registrarSus);
    expect(sent.statusCode, sent.body).toBe(202);
    expect(sent.json()).toEqual({ queued: 1 });
    await expect.poll(() => inbox.filter((m) => m.to[0] === 'now@sus.test').length, { timeout: 30_000 }).toBe(1);
    const pdf = parts(inbox[0].raw).find((p) => p.type === 'application/pdf')!;
    expect(pdf.body.subarray(0, 4).toString()).toBe('%PDF');
    // The delivery is logged in a short transaction after the SMTP server has the message (none is
    // open while it is sent: report-dispatch.test.ts).
    await expect
      .poll(
        async () =>
          (await api('GET', `/api/subscriptions/${id}/deliveries`, t.tokens.registrarSus)).json().map((d: any) => [d.recipient, d.outcome]),
        { timeout: 30_000 },
      )
      .toEqual([['now@sus.test', 'sent']]);
    expect((await api('GET', `/api/subscriptions/${id}/deliveries`, t.tokens.readerOther)).statusCode).toBe(404);
    // A person's own subscription is not a dispatch: the admins' delivery log does not show it.
    expect((await api('GET', `/api/registries/fracture/dispatches/${id}/deliveries`, t.tokens.admin)).statusCode).toBe(404);
    // The schedule is untouched: the next regular report is still a month away.
    const [sub] = (await api('GET', '/api/subscriptions', t.tokens.registrarSus)).json().filter((s: any) => s.id === id);
    expect(new Date(sub.nextRunAt).getTime()).toBeGreaterThan(days(27).getTime());
    // Again the same day: today's report is sent once more.
    expect((await api('POST', `/api/subscriptions/${id}/send`, t.tokens.registrarSus)).json()).toEqual({ queued: 1 });
    await expect.poll(() => inbox.filter((m) => m.to[0] === 'now@sus.test').length, { timeout: 30_000 }).toBe(2);
    // Unsubscribed by the e-mail's link: sending now is refused with what to do.
    expect((await api('POST', linkIn(inbox[0]))).statusCode).toBe(200);
    const ended = await api('POST', `/api/subscriptions/${id}/send`, t.tokens.registrarSus);
    expect(ended.statusCode).toBe(409);
    expect(ended.json().error).toMatch(/has ended .* create a new one/);
  });
});
