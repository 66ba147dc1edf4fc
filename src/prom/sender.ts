// Sends due invitations and reminders through the channel cascade, and keeps every attempt per
// invitation and channel (prom_delivery). Due invitations are claimed with FOR UPDATE SKIP LOCKED,
// the job-queue pattern of report dispatch, so two processes never send the same one; a failed
// attempt is retried with exponential backoff (KVALREG_REPORT_RETRY_BASE_MS, as reports) until
// the attempts run out, and then the invitation is marked not reachable and put on the paper list.
// A patient no channel can reach (no contact details) goes to paper at once.
import type { PersonData, PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Channel, Message } from './channels.ts';
import { getContact } from './contacts.ts';
import type { InvitationLinks } from './links.ts';

const PLATFORM = { kind: 'platform', task: 'prom-sender' } as const;

export interface SendRun {
  sent: number;
  reminded: number;
  notReachable: number;
  failed: number;
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
    const total: SendRun = { sent: 0, reminded: 0, notReachable: 0, failed: 0 };
    for (;;) {
      const batch = await this.data.transaction(PLATFORM, 'prom:send', (tx) => this.batch(tx, now));
      for (const k of Object.keys(total) as Array<keyof SendRun>) total[k] += batch[k];
      if (!batch.claimed) break;
    }
    return total;
  }

  private async batch(tx: PersonTx, now: Date): Promise<SendRun & { claimed: number }> {
    const out = { sent: 0, reminded: 0, notReachable: 0, failed: 0, claimed: 0 };
    const { rows } = await tx.client.query(
      `SELECT id, person_id, unit_resh, purpose, status, channel, attempts, reminder_days, expiry_days, expires_at,
              CASE WHEN status = 'ordered' THEN 'invitation' ELSE 'reminder' END AS kind
       FROM prom_invitation
       WHERE (status = 'ordered' AND send_at <= $1) OR (status = 'sent' AND remind_at <= $1 AND expires_at > $1)
       ORDER BY id LIMIT 50 FOR UPDATE SKIP LOCKED`,
      [now],
    );
    out.claimed = rows.length;
    const persons: number[] = [];
    for (const inv of rows) {
      persons.push(Number(inv.person_id));
      const contact = await getContact(tx, this.keys, Number(inv.person_id));
      const id = Number(inv.id);
      const deadline = inv.kind === 'invitation' ? new Date(now.getTime() + inv.expiry_days * 86_400_000) : new Date(inv.expires_at);
      const message: Message & { questionnaires?: string[] } = {
        invitationId: id,
        kind: inv.kind,
        hospital: hospitalName(this.units, inv.unit_resh),
        purpose: inv.purpose?.nb ?? '',
        link: `${this.opts.publicUrl}/prom/${this.links.token(id)}`,
        deadline: deadline.toISOString(),
        lang: 'nb',
        questionnaires: this.opts.questionnaires ? await this.opts.questionnaires(tx, id) : [],
      };
      // A reminder goes the way the invitation went; an invitation tries the cascade in order.
      const candidates = this.channels.filter((c) => c.reaches(contact) && (inv.kind === 'invitation' || c.id === inv.channel));
      let delivered: Channel | null = null;
      for (const ch of candidates) {
        try {
          const res = await ch.send(contact, message);
          await this.log(tx, id, ch.id, inv.kind, 'sent', null, res.messageId);
          delivered = ch;
          break;
        } catch (err) {
          await this.log(tx, id, ch.id, inv.kind, 'failed', (err as Error).message, null);
        }
      }
      if (delivered && inv.kind === 'invitation') {
        await tx.client.query(
          `UPDATE prom_invitation SET status = 'sent', channel = $2, sent_at = $3::timestamptz, attempts = attempts + 1,
             remind_at = $3::timestamptz + make_interval(days => reminder_days), expires_at = $3::timestamptz + make_interval(days => expiry_days), updated_at = now() WHERE id = $1`,
          [id, delivered.id, now],
        );
        out.sent++;
      } else if (delivered) {
        await tx.client.query(`UPDATE prom_invitation SET status = 'reminded', reminded_at = $2, updated_at = now() WHERE id = $1`, [
          id,
          now,
        ]);
        out.reminded++;
      } else if (inv.kind === 'reminder') {
        // The reminder could not go: try again later, until the invitation ends.
        await tx.client.query(`UPDATE prom_invitation SET remind_at = $2, updated_at = now() WHERE id = $1`, [
          id,
          new Date(now.getTime() + this.opts.retryBaseMs),
        ]);
        out.failed++;
      } else if (candidates.length === 0 || inv.attempts + 1 >= this.opts.maxAttempts) {
        // Nobody to send to, or every try failed: not reachable digitally; a paper form is printed.
        await tx.client.query(
          `UPDATE prom_invitation SET status = 'not-reachable', attempts = attempts + 1, updated_at = now() WHERE id = $1`,
          [id],
        );
        await this.log(
          tx,
          id,
          'paper',
          'invitation',
          'to-print',
          candidates.length ? 'every channel failed' : 'no contact details for any digital channel',
          null,
        );
        out.notReachable++;
      } else {
        await tx.client.query(`UPDATE prom_invitation SET attempts = attempts + 1, send_at = $2, updated_at = now() WHERE id = $1`, [
          id,
          new Date(now.getTime() + this.opts.retryBaseMs * 2 ** inv.attempts),
        ]);
        out.failed++;
      }
    }
    if (persons.length) tx.audit({ action: 'prom:send', object: 'prom/invitation', personIds: persons });
    return out;
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
      'INSERT INTO prom_delivery (invitation_id, channel, kind, status, error, message_id) VALUES ($1, $2, $3, $4, $5, $6)',
      [invitationId, channel, kind, status, error, messageId],
    );
  }
}
