// Report subscriptions and dispatches, and the PostgreSQL job queue that renders and e-mails them.
//
// A subscription is a user's own (one recipient, the user as owner); a dispatch is set up by a
// registry admin for a unit and goes to a mailing list. When a subscription is due, one job per
// recipient is queued; a worker claims due jobs with FOR UPDATE SKIP LOCKED in a short transaction (so two
// processes never send the same job), renders the PDF once per subscription and period, sends it
// by SMTP with no transaction open, and logs the delivery. A failed attempt is
// retried with exponential backoff until `max_attempts`; expired subscriptions stop; every e-mail
// carries a signed unsubscribe link that works without login.
//
// Why our own queue table rather than pg-boss: the work is one kind of job with one state machine,
// it lives in the same migrations, transactions and backups as everything else, and the whole queue
// is the two statements below. pg-boss would bring its own schema and maintenance for no gain here.
import crypto from 'node:crypto';
import type { Transporter } from 'nodemailer';
import { smtpTransport } from '../mail/smtp.ts';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Pool } from '../db/pool.ts';
import type { Indicators } from '../indicators/service.ts';
import { osloDate } from '../time/oslo.ts';
import { nextRunAfter, nthRun } from './schedule.ts';
import type { UnitTree } from '../units/tree.ts';
import { KvalregError, kindOfStatus } from '../errors.ts';

export const FREQUENCIES = ['daily', 'weekly', 'monthly', 'quarterly'] as const;
export type Frequency = (typeof FREQUENCIES)[number];
export const REPORTS = ['unit', 'indicator'] as const;

export interface Subscription {
  id: number;
  registry: string;
  report: 'unit' | 'indicator';
  unit: string;
  indicator: string | null;
  frequency: Frequency;
  lang: 'nb' | 'en';
  recipients: string[];
  owner: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  nextRunAt: string;
  active: boolean;
}

export interface RenderRequest {
  registry: string;
  report: 'unit' | 'indicator';
  unitResh: string;
  indicator: string | null;
  year: string;
  lang: 'nb' | 'en';
  footer: string;
}

/** A request a user can get wrong: HTTP 400/404 with the message. */
export class SubscriptionError extends KvalregError {
  /** `code` names the message for people (the web app's catalogue). */
  constructor(message: string, status = 400, code?: string) {
    super(kindOfStatus(status), message, { code });
  }
  get status(): number {
    return this.httpStatus;
  }
}

/**
 * What kind of failure a delivery's error was, for people to read in their language (the log keeps
 * the text): no mail server set up, the receiving server refused, the server could not be reached,
 * or the report could not be made.
 */
export function deliveryErrorCode(error: string | null): string | null {
  if (error === null) return null;
  if (/No SMTP server configured/i.test(error)) return 'mail.notConfigured';
  if (/ECONNREFUSED|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|ECONNRESET|Greeting never received|Connection (closed|timeout)/i.test(error))
    return 'mail.unreachable';
  if (/\b[45]\d\d\b|rejected|refused|EENVELOPE|EMESSAGE/i.test(error)) return 'mail.refused';
  if (/report|render|pdf|figure/i.test(error)) return 'report.failed';
  return 'other';
}

const EMAIL = /^[^\s@<>(),;:"[\]]+@[^\s@<>(),;:"[\]]+\.[^\s@<>(),;:"[\]]+$/;

/** How long a claimed job is someone's: a worker that dies while rendering or sending leaves it to be retried after this. */
const CLAIM_LEASE_MS = 15 * 60_000;

/** Whose subscriptions a request may touch: an owner's own, a registry's, and/or only dispatches (no owner). */
export interface ScopeFilter {
  owner?: string;
  registry?: string;
  dispatches?: boolean;
}

/** The scope as SQL, its three parameters numbered from `first`. */
const SCOPE = (first: number) =>
  `($${first}::text IS NULL OR owner = $${first}) AND ($${first + 1}::text IS NULL OR registry = $${first + 1}) AND ($${first + 2}::boolean IS NULL OR (owner IS NULL) = $${first + 2})`;
const scopeParams = (f: ScopeFilter) => [f.owner ?? null, f.registry ?? null, f.dispatches ?? null];
const notFound = (id: number, f: ScopeFilter) =>
  new SubscriptionError(`No ${f.dispatches ? 'dispatch' : 'subscription'} ${id} of yours.`, 404);

function rowToSubscription(r: any): Subscription {
  return {
    id: Number(r.id),
    registry: r.registry,
    report: r.report,
    unit: r.unit_resh,
    indicator: r.indicator,
    frequency: r.frequency,
    lang: r.lang,
    recipients: r.recipients,
    owner: r.owner,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at).toISOString(),
    expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
    nextRunAt: new Date(r.next_run_at).toISOString(),
    active: r.active,
  };
}

export class Dispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  /** A kick came while a run was under way: run once more after it, so nothing queued waits for the timer. */
  private again = false;
  private stopped = false;
  private readonly secret: Buffer;
  private transport: Transporter | null = null;

  constructor(
    private readonly pool: Pool,
    private readonly config: Config,
    private readonly log: Logger,
    private readonly render: (r: RenderRequest) => Promise<Buffer>,
    private readonly units: UnitTree,
    private readonly indicators: Indicators,
    secret?: Buffer,
  ) {
    this.secret = secret ?? crypto.randomBytes(32);
  }

  /** The key unsubscribe links are signed with (derived from the platform's keys, so links survive restarts). */
  setSecret(key: Buffer): void {
    key.copy(this.secret, 0, 0, Math.min(32, key.length));
  }

  async create(input: {
    registry: string;
    report: unknown;
    unit: unknown;
    indicator?: unknown;
    frequency: unknown;
    lang?: unknown;
    recipients: unknown;
    owner: string | null;
    createdBy: string;
    expires?: unknown;
    now?: Date;
  }): Promise<Subscription> {
    const report = String(input.report ?? '');
    if (!(REPORTS as readonly string[]).includes(report))
      throw new SubscriptionError(`report must be one of ${REPORTS.join(', ')} (a unit's indicators, or one indicator for every unit).`);
    const frequency = String(input.frequency ?? '');
    if (!(FREQUENCIES as readonly string[]).includes(frequency))
      throw new SubscriptionError(`frequency must be one of ${FREQUENCIES.join(', ')}.`);
    const unit = String(input.unit ?? '');
    if (!this.units.has(unit)) throw new SubscriptionError(`Unknown unit "${unit}": give the RESH id of a unit.`, 400, 'unit.unknown');
    let indicator: string | null = null;
    if (report === 'indicator') {
      indicator = String(input.indicator ?? '');
      if (!this.indicators.get(input.registry, indicator))
        throw new SubscriptionError(
          `Registry ${input.registry} has no indicator "${indicator}"; GET /api/registries/${input.registry}/indicators lists them.`,
        );
    }
    const lang = input.lang === undefined ? 'nb' : String(input.lang);
    if (lang !== 'nb' && lang !== 'en') throw new SubscriptionError('lang must be nb or en.');
    const recipients = Array.isArray(input.recipients) ? input.recipients.map((x) => String(x).trim().toLowerCase()) : [];
    if (recipients.length === 0 || recipients.length > 200)
      throw new SubscriptionError('Give between 1 and 200 e-mail addresses.', 400, 'email.count');
    const bad = recipients.filter((r) => !EMAIL.test(r));
    if (bad.length) throw new SubscriptionError(`Not an e-mail address: ${bad.slice(0, 5).join(', ')}.`, 400, 'email.invalid');
    const now = input.now ?? new Date();
    let expires: Date | null = null;
    if (input.expires !== undefined && input.expires !== null) {
      expires = new Date(String(input.expires));
      if (Number.isNaN(expires.getTime())) throw new SubscriptionError('expires must be a date, e.g. 2026-12-31.');
      if (expires <= now) throw new SubscriptionError('expires must be in the future.', 400, 'expires.past');
    }
    const { rows } = await this.pool.query(
      `INSERT INTO report_subscription (registry, report, unit_resh, indicator, frequency, lang, recipients, owner, created_by, expires_at, next_run_at, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      // created_at is the schedule's anchor: every run is counted from it (schedule.ts).
      [
        input.registry,
        report,
        unit,
        indicator,
        frequency,
        lang,
        [...new Set(recipients)],
        input.owner,
        input.createdBy,
        expires,
        nthRun(now, frequency as Frequency, 1),
        now,
      ],
    );
    return rowToSubscription(rows[0]);
  }

  async list(filter: ScopeFilter): Promise<Subscription[]> {
    const { rows } = await this.pool.query(`SELECT * FROM report_subscription WHERE ${SCOPE(1)} ORDER BY id`, scopeParams(filter));
    return rows.map(rowToSubscription);
  }

  /** One subscription within the scope (a user's own, or a registry's dispatches); otherwise "not found". */
  private async find(id: number, filter: ScopeFilter): Promise<Subscription> {
    const { rows } = await this.pool.query(`SELECT * FROM report_subscription WHERE id = $1 AND ${SCOPE(2)}`, [id, ...scopeParams(filter)]);
    if (rows.length === 0) throw notFound(id, filter);
    return rowToSubscription(rows[0]);
  }

  /** Deletes a subscription; with `owner`, only that owner's (otherwise: not found). */
  async remove(id: number, filter: ScopeFilter): Promise<void> {
    const { rowCount } = await this.pool.query(`DELETE FROM report_subscription WHERE id = $1 AND ${SCOPE(2)}`, [
      id,
      ...scopeParams(filter),
    ]);
    if (!rowCount) throw notFound(id, filter);
  }

  /**
   * Sends a subscription's report now, outside its schedule (a user checking what it looks like, an
   * admin re-sending after a mailbox problem): one job per recipient for today, or today's job
   * queued again. Work starts at once; it is delivered and logged like any scheduled report.
   */
  async sendNow(id: number, filter: ScopeFilter, now = new Date()): Promise<{ queued: number }> {
    const s = await this.find(id, filter);
    // Nothing could be sent: say so now rather than promise an e-mail that never comes.
    if (!this.config.smtpUrl)
      throw new SubscriptionError('No SMTP server is configured (KVALREG_SMTP_URL), so nothing can be sent.', 409, 'mail.notConfigured');
    if (!s.active)
      throw new SubscriptionError(
        `${filter.dispatches ? 'Dispatch' : 'Subscription'} ${id} has ended (expired or unsubscribed); create a new one to receive the report again.`,
        409,
        'subscription.ended',
      );
    const res = await this.pool.query(
      `INSERT INTO report_job (subscription_id, recipient, period, run_at)
       SELECT $1, r, $2, $3 FROM unnest($4::text[]) r WHERE NOT EXISTS (SELECT 1 FROM report_unsubscribed u WHERE u.subscription_id = $1 AND u.recipient = r)
       ON CONFLICT (subscription_id, recipient, period) DO UPDATE SET status = 'queued', run_at = EXCLUDED.run_at, attempts = 0, last_error = null, finished_at = null
       WHERE report_job.status <> 'queued'`,
      [s.id, osloDate(now.toISOString()), now, s.recipients],
    );
    this.kick();
    return { queued: res.rowCount ?? 0 };
  }

  /** Every attempt to deliver a subscription within the scope, oldest first. */
  async deliveries(
    id: number,
    filter: ScopeFilter,
  ): Promise<
    Array<{
      recipient: string;
      attempt: number;
      at: string;
      outcome: string;
      error: string | null;
      errorCode: string | null;
      bytes: number | null;
    }>
  > {
    await this.find(id, filter);
    const { rows } = await this.pool.query(
      'SELECT recipient, attempt, at, outcome, error, bytes FROM report_delivery WHERE subscription_id = $1 ORDER BY id',
      [id],
    );
    return rows.map((r) => ({
      recipient: r.recipient,
      attempt: r.attempt,
      at: new Date(r.at).toISOString(),
      outcome: r.outcome,
      error: r.error,
      errorCode: deliveryErrorCode(r.error),
      bytes: r.bytes,
    }));
  }

  unsubscribeToken(subscriptionId: number, recipient: string): string {
    const payload = Buffer.from(JSON.stringify([subscriptionId, recipient])).toString('base64url');
    const mac = crypto.createHmac('sha256', this.secret).update(`unsubscribe:${payload}`).digest('base64url');
    return `${payload}.${mac}`;
  }

  /** Checks the signature and records the unsubscription; a user's own subscription is then ended. */
  async unsubscribe(token: string): Promise<{ subscription: number; recipient: string }> {
    const [payload, mac] = String(token ?? '').split('.');
    const expected = payload ? crypto.createHmac('sha256', this.secret).update(`unsubscribe:${payload}`).digest('base64url') : '';
    if (!payload || !mac || mac.length !== expected.length || !crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) {
      throw new SubscriptionError(
        'This unsubscribe link is not valid (it may have been cut off by the e-mail program). Use the whole link from the e-mail.',
      );
    }
    const [id, recipient] = JSON.parse(Buffer.from(payload, 'base64url').toString()) as [number, string];
    const { rows } = await this.pool.query('SELECT owner FROM report_subscription WHERE id = $1', [id]);
    if (rows.length === 0) return { subscription: id, recipient }; // already gone: nothing more will be sent
    await this.pool.query('INSERT INTO report_unsubscribed (subscription_id, recipient) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      id,
      recipient,
    ]);
    if (rows[0].owner) await this.pool.query('UPDATE report_subscription SET active = false WHERE id = $1', [id]);
    await this.pool.query(
      `UPDATE report_job SET status = 'cancelled', finished_at = now() WHERE subscription_id = $1 AND recipient = $2 AND status = 'queued'`,
      [id, recipient],
    );
    return { subscription: id, recipient };
  }

  /** Queues due subscriptions, ends expired ones, and works off due jobs. `now` is for tests and catch-up. */
  async runDue(now = new Date()): Promise<{ queued: number; sent: number; failed: number; expired: number }> {
    const expired = (
      await this.pool.query(`UPDATE report_subscription SET active = false WHERE active AND expires_at <= $1 RETURNING id`, [now])
    ).rows.map((r) => Number(r.id));
    if (expired.length)
      await this.pool.query(
        `UPDATE report_job SET status = 'cancelled', finished_at = now() WHERE status = 'queued' AND subscription_id = ANY($1)`,
        [expired],
      );
    let queued = 0;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const due = (
        await client.query(`SELECT * FROM report_subscription WHERE active AND next_run_at <= $1 FOR UPDATE SKIP LOCKED`, [now])
      ).rows.map(rowToSubscription);
      for (const s of due) {
        const period = osloDate(s.nextRunAt);
        const res = await client.query(
          `INSERT INTO report_job (subscription_id, recipient, period, run_at)
           SELECT $1, r, $2, $3 FROM unnest($4::text[]) r WHERE NOT EXISTS (SELECT 1 FROM report_unsubscribed u WHERE u.subscription_id = $1 AND u.recipient = r)
           ON CONFLICT DO NOTHING`,
          [s.id, period, now, s.recipients],
        );
        queued += res.rowCount ?? 0;
        const next = nextRunAfter(new Date(s.createdAt), s.frequency, now);
        await client.query('UPDATE report_subscription SET next_run_at = $2 WHERE id = $1', [s.id, next]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    let sent = 0,
      failed = 0;
    // One rendering per subscription and period, shared by every recipient of this run.
    const pdfs = new Map<string, Promise<Buffer>>();
    for (;;) {
      const outcome = await this.runOne(now, pdfs);
      if (outcome === null) break;
      if (outcome) sent += 1;
      else failed += 1;
    }
    return { queued, sent, failed, expired: expired.length };
  }

  /**
   * Claims one due job in a short transaction (the claim is a lease: run_at moves past it and the
   * attempt is counted, so no other worker takes it and a worker that dies leaves it to be retried),
   * then renders and sends with no transaction open, and records the outcome in a second short one.
   * Why: an SMTP server can take minutes to answer; a transaction held over that keeps row locks and
   * a pooled connection, and holds back vacuum for the whole database.
   */
  private async claim(now: Date): Promise<any | null> {
    const { rows } = await this.pool.query(
      `UPDATE report_job j SET attempts = j.attempts + 1, run_at = $2
       FROM report_subscription s
       WHERE j.id = (SELECT id FROM report_job WHERE status = 'queued' AND run_at <= $1 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
         AND s.id = j.subscription_id
       RETURNING j.*, s.registry, s.report, s.unit_resh, s.indicator, s.lang, s.frequency`,
      [now, new Date(now.getTime() + CLAIM_LEASE_MS)],
    );
    return rows[0] ?? null;
  }

  /** Claims one due job and delivers it: true sent, false failed (retried later or given up), null nothing due. */
  private async runOne(now: Date, pdfs: Map<string, Promise<Buffer>>): Promise<boolean | null> {
    const job = await this.claim(now);
    if (!job) return null;
    const attempt: number = job.attempts;
    let error: string | null = null;
    let info: { messageId?: string } = {};
    let bytes = 0;
    try {
      const unit = this.units.get(job.unit_resh);
      const unitLabel = unit ? (job.lang === 'en' ? (unit.nameEn ?? unit.nameNb) : unit.nameNb) : job.unit_resh;
      const year = job.period.slice(0, 4);
      // The PDF holds no recipient's details (the unsubscribe link is in the e-mail's text), so one
      // rendering serves the whole mailing list.
      const key = `${job.subscription_id}/${job.period}`;
      let rendering = pdfs.get(key);
      if (!rendering) {
        rendering = this.render({
          registry: job.registry,
          report: job.report,
          unitResh: job.unit_resh,
          indicator: job.indicator,
          year,
          lang: job.lang,
          footer: `${job.registry} – ${unitLabel} – ${job.period}`,
        });
        pdfs.set(key, rendering);
      }
      const pdf = await rendering;
      bytes = pdf.length;
      info = await this.send(job, unitLabel, pdf);
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      if (error === null) {
        await client.query(
          `UPDATE report_job SET status = 'sent', finished_at = now(), last_error = null WHERE id = $1 AND status = 'queued' AND attempts = $2`,
          [job.id, attempt],
        );
      } else {
        const giveUp = attempt >= job.max_attempts;
        const retryAt = new Date(now.getTime() + this.config.reportRetryBaseMs * 2 ** (attempt - 1));
        await client.query(
          `UPDATE report_job SET status = $2, run_at = $4, last_error = $5, finished_at = CASE WHEN $2 = 'failed' THEN now() END WHERE id = $1 AND status = 'queued' AND attempts = $3`,
          [job.id, giveUp ? 'failed' : 'queued', attempt, retryAt, error],
        );
        this.log.warn({ job: Number(job.id), subscription: Number(job.subscription_id), attempt, giveUp, error }, 'report delivery failed');
      }
      await client.query(
        `INSERT INTO report_delivery (job_id, subscription_id, recipient, attempt, outcome, error, message_id, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          job.id,
          job.subscription_id,
          job.recipient,
          attempt,
          error === null ? 'sent' : 'failed',
          error,
          info.messageId ?? null,
          bytes || null,
        ],
      );
      await client.query('COMMIT');
      return error === null;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  private async send(job: any, unitLabel: string, pdf: Buffer): Promise<{ messageId?: string }> {
    if (!this.config.smtpUrl)
      throw new Error('No SMTP server configured: set KVALREG_SMTP_URL (e.g. smtp://user:password@mail.example.no:587).');
    this.transport ??= smtpTransport(this.config.smtpUrl);
    const token = this.unsubscribeToken(Number(job.subscription_id), job.recipient);
    const link = `${this.config.publicUrl}/api/unsubscribe?token=${encodeURIComponent(token)}`;
    const nb = job.lang !== 'en';
    const what =
      job.report === 'unit'
        ? nb
          ? 'Enhetsrapport'
          : 'Unit report'
        : nb
          ? `Indikatorrapport (${job.indicator})`
          : `Indicator report (${job.indicator})`;
    const freq = {
      daily: nb ? 'daglig' : 'daily',
      weekly: nb ? 'ukentlig' : 'weekly',
      monthly: nb ? 'månedlig' : 'monthly',
      quarterly: nb ? 'kvartalsvis' : 'quarterly',
    }[job.frequency as Frequency];
    const text = nb
      ? `${what} for ${unitLabel}, ${job.period}, er vedlagt som PDF.\n\nDu får denne rapporten ${freq}. Avslutt abonnementet: ${link}\n`
      : `${what} for ${unitLabel}, ${job.period}, is attached as a PDF.\n\nYou receive this report ${freq}. Unsubscribe: ${link}\n`;
    const res = await this.transport.sendMail({
      from: this.config.mailFrom,
      to: job.recipient,
      subject: `${what}: ${unitLabel} – ${job.period}`,
      text,
      headers: { 'List-Unsubscribe': `<${link}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
      attachments: [
        { filename: `${job.registry}-${job.report}-${job.unit_resh}-${job.period}.pdf`, content: pdf, contentType: 'application/pdf' },
      ],
    });
    return { messageId: res.messageId };
  }

  /** Runs `runDue` every `intervalMs` (one run at a time), as the server does. */
  start(intervalMs: number): void {
    if (this.timer || intervalMs <= 0) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
  }

  /** One run of `runDue` now, unless one is under way (which then picks up what is due). */
  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runDue()
      .catch((err) => this.log.error({ err }, 'report dispatch failed'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    this.transport?.close();
  }
}
