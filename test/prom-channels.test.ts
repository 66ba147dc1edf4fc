// PROM channels for real: the invitation travels by SMTP to a real SMTP server and by HTTP to the
// local SMS gateway sink; the cascade falls through a refused channel to the next; a patient no
// channel reaches goes to paper; the reminder goes the same way after 15 days, and the invitation
// expires after 30; statuses are kept per invitation and channel. Messages are neutral: the
// hospital and the purpose, never the diagnosis.
import net from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { SMTP_TIMEOUTS } from '../src/mail/smtp.ts';
import { EmailChannel } from '../src/prom/channels.ts';
import { PromSender } from '../src/prom/sender.ts';
import { setContact } from '../src/prom/contacts.ts';
import { saveResponse } from '../src/prom/responses.ts';
import { startSmsSink, type SmsSink } from '../src/prom/sms-sink.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { mimeParts, startTestInbox, type TestInbox } from './helpers/mail.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let mail: TestInbox;
let sms: SmsSink;
const PLATFORM = { kind: 'platform', task: 'test' } as const;

beforeAll(async () => {
  mail = await startTestInbox();
  sms = await startSmsSink();
  t = await testPlatform({
    KVALREG_SMTP_URL: mail.url,
    KVALREG_SMS_URL: sms.url,
    KVALREG_PROM_CHANNELS: 'email,sms',
    KVALREG_PUBLIC_URL: 'https://kvalreg.example',
    KVALREG_REPORT_RETRY_BASE_MS: '60000',
  });
});
afterAll(async () => {
  await t?.close();
  await mail?.close();
  await sms?.close();
});

const q = async (sql: string, params: unknown[] = []) => (await t.platform.db.pool.query(sql, params)).rows;
let born = 0;
async function patient(contact: { email?: string; mobile?: string }) {
  born += 1;
  const f = fracture({
    nin: nin(`1961-${String(((born - 1) % 12) + 1).padStart(2, '0')}-${10 + Math.floor((born - 1) / 12)}`, 'female'),
    injuryDateTime: '2003-09-01T10:00:00+02:00',
    firstContact: '2003-09-01T11:00:00+02:00',
    aoCode: '2R3A2',
  });
  const res = await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  expect(res.statusCode).toBeLessThan(300);
  const personId = Number((await q('SELECT person_id FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`]))[0].person_id);
  if (contact.email || contact.mobile)
    await t.platform.data.transaction(PLATFORM, 'test', (tx) => setContact(tx, t.platform.keys, personId, contact, 'test'));
  return personId;
}
const invitationOf = async (personId: number) =>
  (await q('SELECT * FROM prom_invitation WHERE person_id = $1 ORDER BY id DESC LIMIT 1', [personId]))[0];
const deliveries = async (invitationId: number) =>
  (await q('SELECT channel, kind, status FROM prom_delivery WHERE invitation_id = $1 ORDER BY id', [invitationId])).map(
    (r) => `${r.kind}:${r.channel}:${r.status}`,
  );
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

let byEmail: number, bySms: number, fallsBack: number, nowhere: number, answers: number;

it('sends by e-mail over SMTP, by SMS through the gateway, falls back when a channel refuses, and marks the unreachable for paper', async () => {
  byEmail = await patient({ email: 'kari@example.no' });
  bySms = await patient({ mobile: '+4791234567' });
  fallsBack = await patient({ email: 'busy@example.no', mobile: '+4798765432' });
  nowhere = await patient({});
  answers = await patient({ email: 'ola@example.no' });
  await t.platform.analytics.refresh();
  // The SMTP server refuses this recipient's mailbox 5 times: e-mail fails, SMS takes over.
  for (let i = 0; i < 5; i++) mail.refuse.add('busy@example.no');
  const run = await t.platform.prom.runDue(new Date('2003-09-02T08:00:00Z'));
  expect(run).toMatchObject({ invitationsCreated: 5, sent: 4, notReachable: 1 });

  const mailTo = mail.mails.filter((m) => m.to.includes('kari@example.no'));
  expect(mailTo).toHaveLength(1);
  const body = textOf(mailTo[0].raw);
  const inv = await invitationOf(byEmail);
  expect(body).toContain('Stavanger universitetssjukehus');
  expect(body).toContain(`https://kvalreg.example/prom/${t.platform.prom.links.token(Number(inv.id))}`);
  // Neutral: no diagnosis, body part, code or registry name.
  expect(body).not.toMatch(/brudd|fraktur|håndledd|2R3A2|PRWHE|register/i);
  expect(inv).toMatchObject({ status: 'sent', channel: 'email' });
  expect(await deliveries(Number(inv.id))).toEqual(['invitation:email:sent']);

  const text = sms.messages.find((m) => m.to === '+4791234567');
  expect(text?.text).toMatch(
    /^Stavanger universitetssjukehus: svar på noen spørsmål om helsen din innen .*https:\/\/kvalreg\.example\/prom\/\d+\./,
  );
  expect((await invitationOf(bySms)).channel).toBe('sms');

  const fb = await invitationOf(fallsBack);
  expect(fb).toMatchObject({ status: 'sent', channel: 'sms' });
  expect(await deliveries(Number(fb.id))).toEqual(['invitation:email:failed', 'invitation:sms:sent']);

  const nw = await invitationOf(nowhere);
  expect(nw.status).toBe('not-reachable');
  expect(await deliveries(Number(nw.id))).toEqual(['invitation:paper:to-print']);
});

it('a reminder goes after 15 days the same way, unless the patient has answered; the invitation expires after 30 days', async () => {
  // One patient answers everything before the reminder.
  const inv = await invitationOf(answers);
  const instruments = await q('SELECT DISTINCT instrument, recall FROM prom_item WHERE invitation_id = $1', [inv.id]);
  const full: Record<string, Record<string, unknown>> = {
    eq5d5l: { mobility: '1', selfcare: '1', usual: '1', pain: '2', anxiety: '1', vas: 85 },
    prwhe: Object.fromEntries(
      [
        ...['pain1', 'pain2', 'pain3', 'pain4', 'pain5'],
        ...['func1', 'func2', 'func3', 'func4', 'func5', 'func6'],
        ...['usual1', 'usual2', 'usual3', 'usual4'],
      ].map((k) => [k, 1]),
    ),
  };
  for (const i of instruments) {
    await t.platform.data.transaction(PLATFORM, 'test', (tx) =>
      saveResponse(tx, {
        personId: answers,
        invitationId: Number(inv.id),
        instrument: t.platform.prom.instruments.get(i.instrument)!,
        recall: i.recall,
        answers: full[i.instrument] as any,
        complete: true,
        provenance: { kind: 'patient' },
        at: new Date('2003-09-05T10:00:00Z'),
      }),
    );
  }
  expect((await invitationOf(answers)).status).toBe('answered');

  const before = mail.mails.length;
  const run = await t.platform.prom.runDue(new Date('2003-09-17T08:30:00Z'));
  expect(run.reminded).toBe(3);
  const reminder = mail.mails.slice(before).find((m) => m.to.includes('kari@example.no'));
  expect(textOf(reminder!.raw)).toMatch(/^En påminnelse: Stavanger universitetssjukehus/);
  expect(mail.mails.slice(before).some((m) => m.to.includes('ola@example.no'))).toBe(false);
  expect(sms.messages.filter((m) => m.to === '+4791234567').map((m) => m.text.split(':')[1].trim().slice(0, 10))).toEqual([
    'svar på no',
    'påminnelse',
  ]);
  expect((await invitationOf(byEmail)).status).toBe('reminded');
  expect(await deliveries(Number((await invitationOf(byEmail)).id))).toEqual(['invitation:email:sent', 'reminder:email:sent']);

  await t.platform.prom.runDue(new Date('2003-10-03T08:30:00Z'));
  expect((await invitationOf(byEmail)).status).toBe('expired');
  expect((await q('SELECT DISTINCT status FROM prom_item WHERE person_id = $1', [byEmail])).map((r) => r.status)).toEqual(['expired']);
  expect((await invitationOf(answers)).status).toBe('answered');
  // Not reachable and no paper answer before the window closed (21 days): its items expire too.
  expect((await q('SELECT DISTINCT status FROM prom_item WHERE person_id = $1', [nowhere])).map((r) => r.status)).toEqual(['expired']);
});

it('links and one-time codes are signed: a changed id or secret is refused', () => {
  const links = t.platform.prom.links;
  const token = links.token(42);
  expect(links.verify(token)).toBe(42);
  expect(links.verify(token.replace(/^42/, '43'))).toBeNull();
  expect(links.verify(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeNull();
  expect(links.verify('nonsense')).toBeNull();
  const code = links.code(42);
  expect(code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  expect(links.checkCode(42, code.toLowerCase().replace('-', ' '))).toBe(true);
  expect(links.checkCode(43, code)).toBe(false);
});

it('paper: a registrar of the unit prints the form with its one-time code and enters the answers (provenance paper); another unit sees no such invitation', async () => {
  // A fresh patient nobody can reach digitally, within the baseline window.
  born += 1;
  const f = fracture({
    nin: nin('1962-12-12', 'male'),
    injuryDateTime: '2004-09-01T10:00:00+02:00',
    firstContact: '2004-09-01T11:00:00+02:00',
    aoCode: '2R3A2',
  });
  await t.app.inject({
    method: 'POST',
    url: '/fhir',
    headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify(ehrBundle(f)),
  });
  await t.platform.analytics.refresh();
  await t.platform.prom.runDue(new Date('2004-09-02T08:00:00Z'));
  const personId = Number((await q('SELECT person_id FROM registry_case WHERE anchor_key LIKE $1', [`%|${f.id}`]))[0].person_id);
  const inv = await invitationOf(personId);
  expect(inv.status).toBe('not-reachable');
  const url = `/api/prom/invitations/${inv.id}/paper`;
  const pdf = await t.app.inject({ method: 'GET', url: `${url}.pdf`, headers: { authorization: `Bearer ${t.tokens.registrarSus}` } });
  expect(pdf.statusCode).toBe(200);
  expect(pdf.headers['content-type']).toBe('application/pdf');
  expect(pdf.rawPayload.subarray(0, 5).toString()).toBe('%PDF-');
  const { createToken } = await import('../src/auth/tokens.ts');
  const otherRegistrar = await createToken(t.platform.db.pool, {
    name: 'kalnes',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'unit-registrar', unit: '8101101' }],
  });
  expect(
    (await t.app.inject({ method: 'GET', url: `${url}.pdf`, headers: { authorization: `Bearer ${otherRegistrar}` } })).statusCode,
  ).toBe(404);

  const post = (body: unknown, token = t.tokens.registrarSus) =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
  const bad = await post({ instrument: 'eq5d5l', answers: { mobility: '9' } });
  expect(bad.statusCode).toBe(422);
  expect(bad.json().error).toMatch(/mobility: "9" is not one of its answers/);
  expect((await post({ instrument: 'eq5d5l', answers: { mobility: '1' } }, otherRegistrar)).statusCode).toBe(404);
  const ok = await post({ instrument: 'eq5d5l', answers: { mobility: '2', selfcare: '1', usual: '2', pain: '3', anxiety: '1', vas: 60 } });
  expect(ok.statusCode, ok.body).toBe(201);
  expect(ok.json().sharedWith.map((s: any) => s.registry)).toEqual(['fracture']);
  const stored = (await q("SELECT provenance, scores FROM prom_response WHERE person_id = $1 AND instrument = 'eq5d5l'", [personId]))[0];
  expect(stored.provenance).toMatchObject({ kind: 'paper' });
  expect(stored.scores.profile.value).toBe('21231');
  expect(await deliveries(Number(inv.id))).toEqual(['invitation:paper:to-print', 'invitation:paper:printed']);
});

it('a mail server that takes the connection and never answers fails the attempt within the greeting timeout, not minutes later', async () => {
  // The rest of the sender's batch waits meanwhile: nodemailer's own default would wait 30 s for a
  // greeting and 10 minutes of silence.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const port = (silent.address() as net.AddressInfo).port;
  const channel = new EmailChannel(`smtp://127.0.0.1:${port}`, 'kvalreg@example.no');
  const started = Date.now();
  try {
    await expect(
      channel.send(
        { email: 'pasient@example.no' },
        {
          invitationId: 1,
          kind: 'invitation',
          hospital: 'Sykehuset',
          purpose: '',
          link: 'https://kvalreg.example/prom/x',
          deadline: '2026-12-31T00:00:00Z',
          lang: 'nb',
        },
      ),
    ).rejects.toThrow(/timeout|greeting/i);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(SMTP_TIMEOUTS.greetingTimeout - 500);
    expect(waited).toBeLessThan(SMTP_TIMEOUTS.greetingTimeout + 5000);
  } finally {
    channel.close();
    silent.close();
  }
}, 30_000);

const senderWith = (channels: ConstructorParameters<typeof PromSender>[4]) =>
  new PromSender(t.platform.data, t.platform.units, t.platform.keys, t.platform.prom.links, channels, {
    publicUrl: 'https://kvalreg.example',
    retryBaseMs: 60_000,
    maxAttempts: 5,
  });
/** An ordered invitation for `person`, due at 07:00 UTC on 2 September 2003 (09:00 in Oslo). */
const ordered = async (person: number) =>
  Number(
    (
      await q(
        `INSERT INTO prom_invitation (person_id, purpose, send_at, closes_on, reminder_days, expiry_days, status)
         VALUES ($1, '{"nb": "oppfølging"}', '2003-09-02T07:00:00Z', '2003-09-30', 15, 30, 'ordered') RETURNING id`,
        [person],
      )
    )[0].id,
  );
const SENDING_DAY = new Date('2003-09-02T08:00:00Z');
/** As responses.ts marks an invitation answered; fails rather than waits more than 3 s for a lock. */
const answer = (id: number) =>
  t.platform.data.transaction(PLATFORM, 'test', async (tx) => {
    await tx.client.query(`SET LOCAL lock_timeout = '3s'`);
    await tx.client.query(`UPDATE prom_invitation SET status = 'answered', answered_at = now(), updated_at = now() WHERE id = $1`, [id]);
  });

it('the sender holds no invitation while a channel takes its time: answers given meanwhile go through and stand, and an invitation answered before its turn is not sent', async () => {
  // A mail server that takes the connection and never greets: the attempt takes the greeting timeout.
  let talking: () => void = () => undefined;
  const connected = new Promise<void>((r) => (talking = r));
  const silent = net.createServer(() => talking());
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const channel = new EmailChannel(`smtp://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, 'kvalreg@example.no');
  try {
    const first = await ordered(await patient({ email: 'slow@example.no' }));
    const second = await ordered(await patient({ email: 'next@example.no' }));
    const sending = senderWith([channel]).run(SENDING_DAY);
    // While the sender talks to the mail server about the first, both patients answer.
    await connected;
    const started = Date.now();
    await answer(first);
    await answer(second);
    expect(Date.now() - started).toBeLessThan(3000);
    // The first's attempt is kept, the second was never tried; neither answer is overwritten.
    expect(await sending).toEqual({ sent: 0, reminded: 0, notReachable: 0, failed: 0, superseded: 2 });
    expect(await deliveries(first)).toEqual(['invitation:email:failed']);
    expect(await deliveries(second)).toEqual([]);
    for (const id of [first, second])
      expect((await q('SELECT status, attempts, claimed_by FROM prom_invitation WHERE id = $1', [id]))[0]).toEqual({
        status: 'answered',
        attempts: 0,
        claimed_by: null,
      });
  } finally {
    channel.close();
    silent.close();
  }
}, 30_000);

it('an invitation claimed by a sender that died is left alone until the claim ends, then sent', async () => {
  const id = await ordered(await patient({}));
  // Claimed by a run that never came back; its claim has ten minutes left (the database's clock).
  await q(
    `UPDATE prom_invitation SET claimed_by = gen_random_uuid(), claimed_until = clock_timestamp() + interval '10 minutes' WHERE id = $1`,
    [id],
  );
  expect(await senderWith([]).run(SENDING_DAY)).toEqual({ sent: 0, reminded: 0, notReachable: 0, failed: 0, superseded: 0 });
  expect((await q('SELECT status FROM prom_invitation WHERE id = $1', [id]))[0].status).toBe('ordered');
  // The claim ends.
  await q(`UPDATE prom_invitation SET claimed_until = clock_timestamp() - interval '1 second' WHERE id = $1`, [id]);
  expect(await senderWith([]).run(SENDING_DAY)).toEqual({ sent: 0, reminded: 0, notReachable: 1, failed: 0, superseded: 0 });
  expect((await q('SELECT status, claimed_by, claimed_until FROM prom_invitation WHERE id = $1', [id]))[0]).toEqual({
    status: 'not-reachable',
    claimed_by: null,
    claimed_until: null,
  });
  expect(await deliveries(id)).toEqual(['invitation:paper:to-print']);
});

it('two senders at once: each invitation goes out once, recorded once', async () => {
  const addresses = Array.from({ length: 6 }, (_, i) => `twice${i}@example.no`);
  const ids: number[] = [];
  for (const email of addresses) ids.push(await ordered(await patient({ email })));
  const channel = () => new EmailChannel(mail.url, 'kvalreg@example.no');
  const [a, b] = [channel(), channel()];
  try {
    const runs = await Promise.all([senderWith([a]).run(SENDING_DAY), senderWith([b]).run(SENDING_DAY)]);
    expect(runs[0].sent + runs[1].sent).toBe(6);
  } finally {
    a.close();
    b.close();
  }
  for (const email of addresses) expect(mail.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
  for (const id of ids) {
    expect(await deliveries(id)).toEqual(['invitation:email:sent']);
    expect((await q('SELECT status, attempts, claimed_by FROM prom_invitation WHERE id = $1', [id]))[0]).toEqual({
      status: 'sent',
      attempts: 1,
      claimed_by: null,
    });
  }
});

it('an invitation answered while its e-mail is being accepted: the message counts as sent and is recorded, and the answer stands', async () => {
  const id = await ordered(await patient({ email: 'midway@example.no' }));
  const channel = new EmailChannel(mail.url, 'kvalreg@example.no');
  // The mail server answers the patient's message only after the patient has answered the form.
  mail.whileReceiving = async (to) => {
    if (to.includes('midway@example.no')) await answer(id);
  };
  try {
    expect(await senderWith([channel]).run(SENDING_DAY)).toEqual({ sent: 1, reminded: 0, notReachable: 0, failed: 0, superseded: 0 });
  } finally {
    mail.whileReceiving = null;
    channel.close();
  }
  expect(mail.mails.filter((m) => m.to.includes('midway@example.no'))).toHaveLength(1);
  expect(await deliveries(id)).toEqual(['invitation:email:sent']);
  expect((await q('SELECT status, attempts, sent_at, claimed_by FROM prom_invitation WHERE id = $1', [id]))[0]).toEqual({
    status: 'answered',
    attempts: 0,
    sent_at: null,
    claimed_by: null,
  });
});
