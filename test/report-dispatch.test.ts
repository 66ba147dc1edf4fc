// The report queue's schedule and delivery, against a real database and a real SMTP server: runs
// fall due at the Oslo wall-clock time the subscription was made at, through both daylight-saving
// changes; a monthly subscription from the 31st runs at each month's end; a dispatch to a mailing
// list is rendered once, not once per recipient; and no database transaction is open while the
// SMTP server is receiving.
//
// Reference dates: Norway follows the EU summer-time rule (last Sunday of March 01:00 UTC to last
// Sunday of October 01:00 UTC), so in 2027 summer time runs from 28 March to 31 October.
import { DateTime } from 'luxon';
import { extractText } from 'unpdf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import type { RenderRequest } from '../src/reports/dispatch.ts';
import { fracture } from './helpers/fixtures.ts';
import { mimeParts, startTestInbox, type TestInbox } from './helpers/mail.ts';
import { SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let smtp: TestInbox;
/** Every rendering the dispatcher asked for. */
const renders: RenderRequest[] = [];

beforeAll(async () => {
  smtp = await startTestInbox();
  t = await testPlatform({ KVALREG_SMTP_URL: smtp.url, KVALREG_PUBLIC_URL: 'https://kvalreg.test' });
  const year = new Date().getFullYear();
  for (let i = 1; i <= 9; i++) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(
        ehrBundle(fracture({ injuryDateTime: `${year}-01-0${i}T10:00:00+01:00`, firstContact: `${year}-01-0${i}T12:00:00+01:00` })),
      ),
    });
    expect(res.statusCode).toBeLessThan(300);
  }
  await t.platform.analytics.refresh();
  // Count renderings on the way to the platform's own renderer (the reports are the real ones).
  const dispatcher = t.platform.reports.dispatch as unknown as { render: (r: RenderRequest) => Promise<Buffer> };
  const real = dispatcher.render;
  dispatcher.render = (r) => {
    renders.push(r);
    return real(r);
  };
}, 120_000);
afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

const oslo = (iso: string) => DateTime.fromISO(iso, { zone: 'Europe/Oslo' }).toJSDate();
const osloTime = (d: Date | string) => DateTime.fromJSDate(new Date(d), { zone: 'Europe/Oslo' }).toFormat('yyyy-MM-dd HH:mm');
const dispatch = () => t.platform.reports.dispatch;

async function subscribe(frequency: 'weekly' | 'monthly', created: Date, recipients = ['schedule@sus.test'], lang: 'nb' | 'en' = 'nb') {
  return dispatch().create({
    registry: 'fracture',
    report: 'unit',
    unit: SUS_ORTHO,
    frequency,
    lang,
    recipients,
    owner: null,
    createdBy: 'test',
    now: created,
  });
}
const nextRun = async (id: number) => (await dispatch().list({})).find((s) => s.id === id)!.nextRunAt;

/** Runs the queue at each due time in turn and returns the due times, in Oslo time. */
async function schedule(id: number, first: string, runs: number): Promise<string[]> {
  const seen = [osloTime(first)];
  let due = first;
  for (let i = 0; i < runs; i++) {
    await dispatch().runDue(new Date(due));
    due = await nextRun(id);
    seen.push(osloTime(due));
  }
  return seen;
}

describe('subscription schedules, in Oslo calendar time', () => {
  it('keeps a weekly 07:30 report at 07:30 when summer time starts and when it ends', async () => {
    const spring = await subscribe('weekly', oslo('2027-03-22T07:30'));
    expect(await schedule(spring.id, spring.nextRunAt, 1)).toEqual(['2027-03-29 07:30', '2027-04-05 07:30']);
    await dispatch().remove(spring.id, {});
    const autumn = await subscribe('weekly', oslo('2027-10-18T07:30'));
    expect(await schedule(autumn.id, autumn.nextRunAt, 2)).toEqual(['2027-10-25 07:30', '2027-11-01 07:30', '2027-11-08 07:30']);
    await dispatch().remove(autumn.id, {});
  }, 120_000);

  it("runs a monthly report made on the 31st at each month's end, not drifting into the next month", async () => {
    const s = await subscribe('monthly', oslo('2027-01-31T08:00'));
    expect(await schedule(s.id, s.nextRunAt, 3)).toEqual(['2027-02-28 08:00', '2027-03-31 08:00', '2027-04-30 08:00', '2027-05-31 08:00']);
    await dispatch().remove(s.id, {});
  }, 120_000);

  it('catches up after a pause with the next run on the schedule, not a run shifted to when the queue woke', async () => {
    const s = await subscribe('monthly', oslo('2027-01-31T08:00'));
    // The platform was down from February to mid-June: one report now, the next at June's end.
    await dispatch().runDue(oslo('2027-06-15T12:00'));
    expect(osloTime(await nextRun(s.id))).toBe('2027-06-30 08:00');
    await dispatch().remove(s.id, {});
  }, 120_000);
});

describe('a dispatch to a mailing list', () => {
  const list = ['a@list.test', 'b@list.test', 'c@list.test'];
  /** What the database looked like each time the SMTP server had a message and had not yet answered. */
  const observed: Array<{ to: string[]; idleInTransaction: number; jobLocked: boolean }> = [];
  let pdfs: Buffer[] = [];

  it('is delivered to every recipient, in English when asked for', async () => {
    smtp.mails.length = 0;
    renders.length = 0;
    // While the SMTP server has the message and has not answered: is the job row locked, or is a
    // session sitting in an open transaction over the queue?
    smtp.whileReceiving = async (to) => {
      const pool = t.platform.db.pool;
      const idle = await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND query ILIKE '%report_job%'`);
      let jobLocked = false;
      try {
        await pool.query('SELECT id FROM report_job WHERE recipient = ANY($1) FOR UPDATE NOWAIT', [to]);
      } catch (err) {
        jobLocked = (err as { code?: string }).code === '55P03';
      }
      observed.push({ to, idleInTransaction: idle.rows[0].n, jobLocked });
    };
    try {
      const s = await subscribe('weekly', new Date(), list, 'en');
      const run = await dispatch().runDue(new Date(new Date(s.nextRunAt).getTime() + 1000));
      expect(run).toMatchObject({ queued: 3, sent: 3, failed: 0 });
      await dispatch().remove(s.id, {});
    } finally {
      smtp.whileReceiving = null;
    }
    expect(smtp.mails.map((m) => m.to[0]).sort()).toEqual(list);
    pdfs = smtp.mails.map((m) => mimeParts(m.raw).find((p) => p.type === 'application/pdf')!.body);
  }, 180_000);

  it('renders the report once, not once per recipient', () => {
    expect(renders).toHaveLength(1);
    expect(pdfs[1].equals(pdfs[0]) && pdfs[2].equals(pdfs[0])).toBe(true);
  });

  it('holds no database transaction open while the SMTP server receives', () => {
    expect(observed).toHaveLength(3);
    expect(observed.filter((o) => o.jobLocked || o.idleInTransaction > 0)).toEqual([]);
  });

  it('writes the English report in English, numbers included (80.5 %, not 80,5 %)', async () => {
    const { text } = await extractText(new Uint8Array(pdfs[0]), { mergePages: true });
    const words = (text as string).replace(/\s+/g, ' ');
    expect(words).toMatch(/unit report/);
    expect(words).toMatch(/\d+\.\d %/);
    expect(words).not.toMatch(/\d+,\d %/);
    expect(words).not.toMatch(/for få|ikke beregnbar/);
  });
});
