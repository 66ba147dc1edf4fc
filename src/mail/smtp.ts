// The platform's SMTP connection (nodemailer), for PROM invitations and report subscriptions alike.
import nodemailer, { type Transporter } from 'nodemailer';

/**
 * Milliseconds to connect, to be greeted, and of silence in between (a slow transfer is not cut
 * short). nodemailer's own defaults are 2 minutes, 30 s and 10 minutes: a mail server that does
 * not answer would hold up every message queued behind it (a PROM sender's batch, a report
 * dispatch's claim, which another process may take over after 15 minutes and send again).
 */
export const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 };

/** A transport for `url` (smtp:// or smtps://) with SMTP_TIMEOUTS; options in the URL's query string win. */
export function smtpTransport(url: string): Transporter {
  return nodemailer.createTransport({ url, ...SMTP_TIMEOUTS });
}
