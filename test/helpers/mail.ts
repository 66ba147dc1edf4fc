// A real SMTP server for tests (smtp-server on a free port) that keeps what it receives, and a
// small MIME reader to take a received message apart (text body, PDF attachment).
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Mail {
  from: string;
  to: string[];
  raw: string;
}

export interface TestInbox {
  /** smtp://127.0.0.1:<port> */
  url: string;
  /** Every message received, in order. */
  mails: Mail[];
  /** Recipients the server refuses once each (450, "try later"), to exercise retries. */
  refuse: Set<string>;
  /** Runs while a message is being received, before the server answers: to look at the sender's state mid-send. */
  whileReceiving: ((to: string[]) => Promise<void>) | null;
  close(): Promise<void>;
}

export async function startTestInbox(): Promise<TestInbox> {
  const mails: Mail[] = [];
  const refuse = new Set<string>();
  const inbox = { whileReceiving: null as TestInbox['whileReceiving'] };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, cb) {
      if (refuse.delete(address.address)) return cb(Object.assign(new Error('Mailbox busy, try later'), { responseCode: 450 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        mails.push({
          from: session.envelope.mailFrom ? (session.envelope.mailFrom as { address: string }).address : '',
          to,
          raw: Buffer.concat(chunks).toString(),
        });
        if (!inbox.whileReceiving) return cb();
        inbox.whileReceiving(to).then(
          () => cb(),
          (err: Error) => cb(err),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(inbox, {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    refuse,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

/** The parts of a MIME message: content type, file name and decoded body of each leaf part. */
export function mimeParts(raw: string): Array<{ type: string; filename: string | null; body: Buffer }> {
  const boundary = /boundary="?([^";\r\n]+)"?/.exec(raw)?.[1];
  if (!boundary) return [];
  return raw
    .split(`--${boundary}`)
    .slice(1, -1)
    .flatMap((chunk) => {
      if (/boundary=/.test(chunk.split(/\r?\n\r?\n/)[0])) return mimeParts(chunk);
      const [head, ...rest] = chunk.replace(/^\r?\n/, '').split(/\r?\n\r?\n/);
      const body = rest.join('\n\n');
      const type = /content-type:\s*([^;\r\n]+)/i.exec(head)?.[1] ?? 'text/plain';
      const enc = /content-transfer-encoding:\s*(\S+)/i.exec(head)?.[1]?.toLowerCase();
      const decoded =
        enc === 'base64'
          ? Buffer.from(body.replace(/\s/g, ''), 'base64')
          : enc === 'quoted-printable'
            ? Buffer.from(
                body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
                'latin1',
              )
            : Buffer.from(body);
      return [{ type: type.toLowerCase(), filename: /filename="?([^";\r\n]+)"?/.exec(head)?.[1] ?? null, body: decoded }];
    });
}
