// Sends due invitations and reminders through the channel cascade, and keeps every attempt per
// invitation and channel (prom_delivery). Due invitations are claimed with FOR UPDATE SKIP LOCKED,
// the job-queue pattern of report dispatch, so two processes never send the same one; a failed
// attempt is retried with exponential backoff (KVALREG_REPORT_RETRY_BASE_MS, as reports) until
// the attempts run out, and then the invitation is marked not reachable and put on the paper list.
// A patient no channel can reach (no contact details) goes to paper at once.
import crypto from 'node:crypto';
import type { PersonData, PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Channel, Contact, Message } from './channels.ts';
import { getContact } from './contacts.ts';
import type { InvitationLinks } from './links.ts';

const PLATFORM = { kind: 'platform', task: 'prom-sender' } as const;

export interface SendRun {
  sent: number;
  reminded: number;
  notReachable: number;
  failed: number;
  /** Claimed, but answered, cancelled, merged or expired before a message went out: nothing sent. */
  superseded: number;
}

export interface SenderOptions {
  publicUrl: string;
  retryBaseMs: number;
  maxAttempts: number;
  /** Per invitation: the canonical URLs of the Questionnaires it asks (for the Task channel). */
  questionnaires?: (tx: PersonTx, invitationId: number) => Promise<string[]>;
}

/** The hospital a unit belongs to (the unit itself when it is one, or above a department). */
export function hospitalName(units: UnitTree, resh: string | null, lang: 'nb' | 'en' = 'nb'): string {
  let u = resh ? units.get(resh) : undefined;
  while (u && u.level === 'department' && u.parent) u = units.get(u.parent);
  if (!u) return lang === 'nb' ? 'Sykehuset' : 'The hospital';
  return lang === 'nb' ? u.nameNb : (u.nameEn ?? u.nameNb);
}

/** How long a claim lasts from its last renewal (before each attempt; a channel fails within about a minute). */
const CLAIM = "interval '15 minutes'";

interface Claimed {
  id: number;
  /** Its status when claimed: what the record expects still to find. */
  status: 'ordered' | 'sent';
  kind: 'invitation' | 'reminder';
  attempts: number;
  contact: Contact & { nin?: string };
  channels: Channel[];
  message: Message & { questionnaires?: string[] };
}

interface Attempt {
  channel: string;
  status: 'sent' | 'failed';
  error: string | null;
  messageId: string | null;
}

export class PromSender {
  constructor(
    private readonly data: PersonData,
    private readonly units: UnitTree,
    private readonly keys: IdentityKeys,
    private readonly links: InvitationLinks,
    private readonly channels: Channel[],
    private readonly opts: SenderOptions,
  ) {}

  async run(now = new Date()): Promise<SendRun> {
    const total: SendRun = { sent: 0, reminded: 0, notReachable: 0, failed: 0, superseded: 0 };
    // This run's claims: no other run records over them, and this one records over no other's.
    const me = crypto.randomUUID();
    for (;;) {
      const claimed = await this.data.transaction(PLATFORM, 'prom:send', (tx) => this.claim(tx, me, now));
      let done = 0;
      try {
        for (const c of claimed) {
          const attempts = await this.attempt(me, c, now);
          total[await this.data.transaction(PLATFORM, 'prom:send', (tx) => this.record(tx, me, c, attempts, now))]++;
          done++;
        }
      } finally {
        // A failure (the database gone, a stop) leaves the rest of the batch to the next run now,
        // rather than when the claims end (without the database, it waits for that). The one it
        // failed on keeps its claim until it ends: its message may have gone out.
        if (done + 1 < claimed.length)
          await this.data
            .transaction(PLATFORM, 'prom:send', (tx) =>
              tx.client.query('UPDATE prom_invitation SET claimed_by = NULL, claimed_until = NULL WHERE id = ANY($1) AND claimed_by = $2', [
                claimed.slice(done + 1).map((c) => c.id),
                me,
              ]),
            )
            .catch(() => undefined);
      }
      if (!claimed.length) break;
    }
    return total;
  }

  /**
   * Claims up to 50 due invitations and reminders and composes their messages. A claim
   * (`claimed_by`, `claimed_until`: migration 133) keeps other senders off the invitation while this
   * one sends, with no row held: a channel may take seconds to fail, and the patient's form and a
   * capture for the same patient need the row meanwhile. It runs on the database's clock (`now` is
   * the day's business time, which tests set), and is renewed before each attempt. A sender that
   * dies with a claim leaves the invitation due again when the claim ends (sent at least once).
   */
  private async claim(tx: PersonTx, me: string, now: Date): Promise<Claimed[]> {
    const { rows } = await tx.client.query(
      `WITH due AS (
         SELECT id FROM prom_invitation
         WHERE ((status = 'ordered' AND send_at <= $1) OR (status = 'sent' AND remind_at <= $1 AND expires_at > $1))
           AND (claimed_until IS NULL OR claimed_until <= clock_timestamp())
         ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED)
       UPDATE prom_invitation v SET claimed_by = $2, claimed_until = clock_timestamp() + ${CLAIM} FROM due WHERE v.id = due.id
       RETURNING v.id, v.person_id, v.unit_resh, v.purpose, v.status, v.channel, v.attempts, v.expiry_days, v.expires_at,
                 CASE WHEN v.status = 'ordered' THEN 'invitation' ELSE 'reminder' END AS kind`,
      [now, me],
    );
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    const claimed: Claimed[] = [];
    for (const inv of rows) {
      const id = Number(inv.id);
      const contact = await getContact(tx, this.keys, Number(inv.person_id));
      const deadline = inv.kind === 'invitation' ? new Date(now.getTime() + inv.expiry_days * 86_400_000) : new Date(inv.expires_at);
      claimed.push({
        id,
        status: inv.status,
        kind: inv.kind,
        attempts: inv.attempts,
        contact,
        // A reminder goes the way the invitation went; an invitation tries the cascade in order.
        channels: this.channels.filter((c) => c.reaches(contact) && (inv.kind === 'invitation' || c.id === inv.channel)),
        message: {
          invitationId: id,
          kind: inv.kind,
          hospital: hospitalName(this.units, inv.unit_resh),
          purpose: inv.purpose?.nb ?? '',
          link: `${this.opts.publicUrl}/prom/${this.links.token(id)}`,
          deadline: deadline.toISOString(),
          lang: 'nb',
          questionnaires: this.opts.questionnaires ? await this.opts.questionnaires(tx, id) : [],
        },
      });
    }
    if (rows.length) tx.audit({ action: 'prom:send', object: 'prom/invitation', personIds: rows.map((r) => Number(r.person_id)) });
    return claimed;
  }

  /** Tries the claimed invitation's channels in order until one takes it; holds no connection while a channel works. */
  private async attempt(me: string, c: Claimed, now: Date): Promise<Attempt[]> {
    const attempts: Attempt[] = [];
    for (const ch of c.channels) {
      if (!(await this.renew(me, c, now))) break;
      try {
        const res = await ch.send(c.contact, c.message);
        attempts.push({ channel: ch.id, status: 'sent', error: null, messageId: res.messageId });
        break;
      } catch (err) {
        attempts.push({ channel: ch.id, status: 'failed', error: (err as Error).message, messageId: null });
      }
    }
    return attempts;
  }

  /**
   * Renews the claim before an attempt, if the invitation is still this run's and still due as
   * claimed: answered, cancelled, merged or (a reminder) past its end since, or claimed by another
   * run after this one's claim ran out, it is not sent.
   */
  private renew(me: string, c: Claimed, now: Date): Promise<boolean> {
    return this.data.transaction(PLATFORM, 'prom:send', async (tx) => {
      const { rowCount } = await tx.client.query(
        `UPDATE prom_invitation SET claimed_until = clock_timestamp() + ${CLAIM}
         WHERE id = $1 AND claimed_by = $2 AND status = $3 AND ($3 = 'ordered' OR expires_at > $4)`,
        [c.id, me, c.status, now],
      );
      return rowCount === 1;
    });
  }

  /**
   * Keeps the attempts and moves the invitation on, ending the claim, if it is still this run's and
   * as claimed. Answered, cancelled, merged or expired meanwhile, that status stands and the
   * attempts are kept beside it (`superseded`, unless a message went out); taken by another run
   * after this one's claim ran out, that run records it.
   */
  private async record(tx: PersonTx, me: string, c: Claimed, attempts: Attempt[], now: Date): Promise<keyof SendRun> {
    const { id } = c;
    for (const a of attempts) await this.log(tx, id, a.channel, c.kind, a.status, a.error, a.messageId);
    const delivered = attempts.find((a) => a.status === 'sent')?.channel;
    const moved = async (set: string, params: unknown[]) => {
      const n = params.length;
      const { rowCount } = await tx.client.query(
        `UPDATE prom_invitation SET ${set}, claimed_by = NULL, claimed_until = NULL, updated_at = now()
         WHERE id = $1 AND claimed_by = $${n + 2} AND status = $${n + 3}`,
        [id, ...params, me, c.status],
      );
      return rowCount === 1;
    };
    const outcome = async (): Promise<keyof SendRun | null> => {
      if (delivered && c.kind === 'invitation')
        return (await moved(
          `status = 'sent', channel = $2, sent_at = $3::timestamptz, attempts = attempts + 1,
           remind_at = $3::timestamptz + make_interval(days => reminder_days), expires_at = $3::timestamptz + make_interval(days => expiry_days)`,
          [delivered, now],
        ))
          ? 'sent'
          : null;
      if (delivered) return (await moved(`status = 'reminded', reminded_at = $2`, [now])) ? 'reminded' : null;
      // The reminder could not go: try again later, until the invitation ends.
      if (c.kind === 'reminder')
        return (await moved(`remind_at = $2`, [new Date(now.getTime() + this.opts.retryBaseMs)])) ? 'failed' : null;
      if (c.channels.length === 0 || c.attempts + 1 >= this.opts.maxAttempts) {
        // Nobody to send to, or every try failed: not reachable digitally; a paper form is printed.
        if (!(await moved(`status = 'not-reachable', attempts = attempts + 1`, []))) return null;
        await this.log(
          tx,
          id,
          'paper',
          'invitation',
          'to-print',
          c.channels.length ? 'every channel failed' : 'no contact details for any digital channel',
          null,
        );
        return 'notReachable';
      }
      return (await moved(`attempts = attempts + 1, send_at = $2`, [new Date(now.getTime() + this.opts.retryBaseMs * 2 ** c.attempts)]))
        ? 'failed'
        : null;
    };
    const done = await outcome();
    if (done) return done;
    // Not moved: the claim ends all the same (if still this run's), and a message that went out counts.
    await tx.client.query('UPDATE prom_invitation SET claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $2', [id, me]);
    return delivered ? (c.kind === 'invitation' ? 'sent' : 'reminded') : 'superseded';
  }

  private async log(
    tx: PersonTx,
    invitationId: number,
    channel: string,
    kind: string,
    status: string,
    error: string | null,
    messageId: string | null,
  ): Promise<void> {
    await tx.client.query(
      // Only while the invitation exists: a reservation since the claim deleted it with its patient.
      `INSERT INTO prom_delivery (invitation_id, channel, kind, status, error, message_id)
       SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM prom_invitation WHERE id = $1)`,
      [invitationId, channel, kind, status, error, messageId],
    );
  }
}
