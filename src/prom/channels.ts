// The channels an invitation travels by, each a real protocol: e-mail over SMTP (nodemailer, the
// same server configuration as report dispatch), SMS through a gateway's HTTP API (development and
// tests run the SMS sink in sms-sink.ts), a Helsenorge-style FHIR Task posted to a configured
// endpoint, and paper (a printable PDF form with a one-time code, whose answers a registrar enters).
// The words are neutral: which hospital asks and why, never a diagnosis.
import type { Transporter } from 'nodemailer';
import { smtpTransport } from '../mail/smtp.ts';

export type ChannelId = 'helsenorge' | 'email' | 'sms' | 'paper';

export interface Message {
  invitationId: number;
  kind: 'invitation' | 'reminder';
  hospital: string;
  purpose: string;
  link: string;
  deadline: string;
  lang: 'nb' | 'en';
}

export interface Contact {
  email?: string | null;
  mobile?: string | null;
}

export interface Channel {
  id: ChannelId;
  /** Whether this patient can be reached this way at all. */
  reaches(contact: Contact): boolean;
  send(contact: Contact, message: Message): Promise<{ messageId: string | null }>;
}

export function messageText(m: Message): { subject: string; body: string; short: string } {
  const date = new Intl.DateTimeFormat(m.lang === 'nb' ? 'nb-NO' : 'en-GB', { dateStyle: 'long', timeZone: 'Europe/Oslo' }).format(
    new Date(m.deadline),
  );
  if (m.lang === 'en') {
    const subject = m.kind === 'reminder' ? `Reminder: questions from ${m.hospital}` : `Questions from ${m.hospital}`;
    return {
      subject,
      body:
        `${m.kind === 'reminder' ? 'A reminder: ' : ''}${m.hospital} asks you to answer a few questions about your health. ${m.purpose}\n\n` +
        `Answer here (log in with BankID or another secure login): ${m.link}\n\nPlease answer by ${date}. It takes about 10 minutes, and you can stop and continue later. ` +
        `Answering is voluntary. If someone else answers for you, they can use the code on the letter from the hospital.\n`,
      short: `${m.hospital}: ${m.kind === 'reminder' ? 'reminder, ' : ''}please answer a few questions about your health by ${date}: ${m.link}`,
    };
  }
  const subject = m.kind === 'reminder' ? `Påminnelse: spørsmål fra ${m.hospital}` : `Spørsmål fra ${m.hospital}`;
  return {
    subject,
    body:
      `${m.kind === 'reminder' ? 'En påminnelse: ' : ''}${m.hospital} ber deg svare på noen spørsmål om helsen din. ${m.purpose}\n\n` +
      `Svar her (logg inn med BankID eller annen sikker innlogging): ${m.link}\n\nSvar innen ${date}. Det tar omtrent 10 minutter, og du kan ta pause og fortsette senere. ` +
      `Det er frivillig å svare. Svarer noen andre for deg, kan de bruke koden i brevet fra sykehuset.\n`,
    short: `${m.hospital}: ${m.kind === 'reminder' ? 'påminnelse, ' : ''}svar på noen spørsmål om helsen din innen ${date}: ${m.link}`,
  };
}

export class EmailChannel implements Channel {
  readonly id = 'email' as const;
  private transport: Transporter | null = null;
  constructor(
    private readonly smtpUrl: string | undefined,
    private readonly from: string,
  ) {}
  reaches(c: Contact): boolean {
    return Boolean(this.smtpUrl && c.email);
  }
  async send(c: Contact, m: Message) {
    if (!this.smtpUrl) throw new Error('No SMTP server configured: set KVALREG_SMTP_URL.');
    // Fails an attempt in seconds when the mail server does not answer (mail/smtp.ts): the sender
    // tries a batch's invitations one after another, and the rest of the batch waits.
    this.transport ??= smtpTransport(this.smtpUrl);
    const t = messageText(m);
    const res = await this.transport.sendMail({ from: this.from, to: c.email!, subject: t.subject, text: t.body });
    return { messageId: res.messageId ?? null };
  }
  close(): void {
    this.transport?.close();
  }
}

/**
 * An SMS gateway's HTTP API: POST {to, text, reference} as JSON with a bearer token; a 2xx answer
 * with {id} is a message accepted. Norwegian gateways differ in field names; an adapter for another
 * one changes this class only.
 */
export class SmsChannel implements Channel {
  readonly id = 'sms' as const;
  constructor(
    private readonly url: string | undefined,
    private readonly token: string | undefined,
    private readonly sender: string,
  ) {}
  reaches(c: Contact): boolean {
    return Boolean(this.url && c.mobile);
  }
  async send(c: Contact, m: Message) {
    const res = await fetch(this.url!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body: JSON.stringify({ to: c.mobile, from: this.sender, text: messageText(m).short, reference: `prom-${m.invitationId}-${m.kind}` }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`SMS gateway answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const body = (await res.json().catch(() => ({}))) as { id?: string };
    return { messageId: body.id ?? null };
  }
}

/**
 * Helsenorge-style digital form: a FHIR Task (the form to fill, a deadline, the patient as owner)
 * posted to the configured endpoint. Helsenorge itself needs an agreement and its own transport
 * (docs/prom.md); this adapter posts the same resource to any FHIR endpoint that takes it.
 */
export class TaskChannel implements Channel {
  readonly id = 'helsenorge' as const;
  constructor(
    private readonly url: string | undefined,
    private readonly token: string | undefined,
  ) {}
  reaches(c: Contact & { nin?: string }): boolean {
    return Boolean(this.url && c.nin);
  }
  async send(c: Contact & { nin?: string }, m: Message & { questionnaires?: string[] }) {
    const res = await fetch(this.url!, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body: JSON.stringify(taskFor(c.nin!, m)),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`Task endpoint answered ${res.status}`);
    return { messageId: res.headers.get('location') };
  }
}

export function taskFor(nin: string, m: Message & { questionnaires?: string[] }): Record<string, unknown> {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    identifier: [{ system: 'urn:kvalreg:prom-invitation', value: String(m.invitationId) }],
    code: { coding: [{ system: 'http://hl7.org/fhir/CodeSystem/task-code', code: 'fulfill' }] },
    description: messageText(m).short,
    for: { identifier: { system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: nin } },
    owner: { identifier: { system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: nin } },
    restriction: { period: { end: m.deadline } },
    input: (m.questionnaires ?? []).map((q) => ({ type: { text: 'questionnaire' }, valueCanonical: q })),
  };
}
