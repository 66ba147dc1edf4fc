// A local SMS gateway for development and tests: it speaks the gateway API the SMS channel uses
// (POST JSON {to, from, text, reference} with an optional bearer token, answers {id}) and keeps
// what it receives, so a message really travels over HTTP. `GET /messages` lists them.
// Never a production gateway: it sends nothing onwards.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SmsMessage {
  id: string;
  to: string;
  from: string;
  text: string;
  reference: string;
  at: string;
}

export interface SmsSink {
  url: string;
  messages: SmsMessage[];
  fail: Set<string>;
  close(): Promise<void>;
}

/** Starts the sink on 127.0.0.1; `fail` holds numbers the sink refuses once (503), to exercise retries. */
export async function startSmsSink(opts: { port?: number; token?: string } = {}): Promise<SmsSink> {
  const messages: SmsMessage[] = [];
  const fail = new Set<string>();
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/messages') return reply(200, messages);
    if (req.method !== 'POST' || req.url !== '/sms') return reply(404, { error: 'POST /sms or GET /messages' });
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return reply(401, { error: 'bad token' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let m: any;
      try {
        m = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        return reply(400, { error: 'not JSON' });
      }
      if (typeof m.to !== 'string' || !/^\+?\d{8,15}$/.test(m.to) || typeof m.text !== 'string' || !m.text)
        return reply(400, { error: 'to (a phone number) and text are required' });
      if (fail.delete(m.to)) return reply(503, { error: 'gateway busy, try later' });
      const msg: SmsMessage = {
        id: crypto.randomUUID(),
        to: m.to,
        from: String(m.from ?? ''),
        text: m.text,
        reference: String(m.reference ?? ''),
        at: new Date().toISOString(),
      };
      messages.push(msg);
      reply(202, { id: msg.id });
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/sms`, messages, fail, close: () => new Promise<void>((r) => server.close(() => r())) };
}
