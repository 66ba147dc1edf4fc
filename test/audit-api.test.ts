// The audit API for registry admins: filters (user, person by identity number, unit, registry,
// time, action, outcome), cursor paging, streaming of large results as NDJSON and CSV, scope (the
// admin of one registry sees that registry's events only) and the audit of reading the trail.
import net from 'node:net';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { OTHER_ORTHO, SUS_HOSPITAL, SUS_ORTHO, testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let fractureAdmin: string;
let traumaAdmin: string;
const mine = fracture({ nin: nin('1961-06-06', 'male') });
let minePerson: number;
beforeAll(async () => {
  // A streamed download whose client stops reading is ended after 1.5 s (30 s in production).
  t = await testPlatform({ KVALREG_STREAM_STALL_MS: '1500' });
  for (const f of [mine, fracture({ unitResh: OTHER_ORTHO }), fracture()]) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/fhir',
      headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
      payload: JSON.stringify(ehrBundle(f)),
    });
    expect(res.statusCode).toBe(200);
  }
  const cases = await q('SELECT id, person_id, unit_resh FROM registry_case ORDER BY id');
  minePerson = cases[0].person_id;
  for (const c of cases) {
    await get(`/api/registries/fracture/cases/${c.id}`, t.tokens.registrarSus); // two allowed, one refused (other unit)
  }
  fractureAdmin = await createToken(t.platform.db.pool, {
    name: 'fracture-admin',
    kind: 'user',
    grants: [{ registry: 'fracture', role: 'registry-admin', unit: '1' }],
  });
  traumaAdmin = await createToken(t.platform.db.pool, {
    name: 'trauma-admin',
    kind: 'user',
    grants: [{ registry: 'trauma', role: 'registry-admin', unit: '1' }],
  });
});
afterAll(async () => {
  await t?.close();
});

const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;
const get = (url: string, token = t.tokens.admin, headers: Record<string, string> = {}) =>
  t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}`, ...headers } });
const search = (body: unknown, token = t.tokens.admin) =>
  t.app.inject({ method: 'POST', url: '/api/audit/search', headers: { authorization: `Bearer ${token}` }, payload: body as any });

describe('filters and paging', () => {
  it('pages through the whole trail by cursor, oldest first', async () => {
    const total = Number((await q('SELECT count(*) FROM audit_event'))[0].count);
    const seen: number[] = [];
    let after = 0;
    for (let i = 0; i < 100; i++) {
      const page = (await get(`/api/audit?limit=3&after=${after}`)).json();
      seen.push(...page.events.map((e: any) => e.id));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen.length).toBeGreaterThanOrEqual(total); // reading adds events of its own as it goes
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('filters by user, unit (with sub-units), action, outcome and time', async () => {
    const byUser = (await get('/api/audit?actor=user:registrar-sus')).json().events;
    expect(byUser.length).toBe(3);
    expect(byUser.every((e: any) => e.actor === 'user:registrar-sus')).toBe(true);
    const denied = (await get('/api/audit?outcome=denied&action=case:read')).json().events;
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ unit: OTHER_ORTHO, registry: 'fracture', outcome: 'denied' });
    const hospital = (await get(`/api/audit?unit=${SUS_HOSPITAL}&action=read`)).json().events;
    expect(hospital.length).toBe(2);
    expect(hospital.every((e: any) => e.unit === SUS_ORTHO)).toBe(true);
    expect((await get(`/api/audit?unit=${SUS_HOSPITAL}&subUnits=false&action=read`)).json().events).toHaveLength(0);
    expect((await get('/api/audit?to=2000-01-01')).json().events).toHaveLength(0);
    const from = new Date(Date.now() - 3600_000).toISOString();
    expect((await get(`/api/audit?from=${encodeURIComponent(from)}&action=capture`)).json().events.length).toBe(3);
  });

  it('finds a person by identity number given in the body, never in the URL', async () => {
    const res = await search({ nin: mine.nin });
    expect(res.statusCode).toBe(200);
    const events = res.json().events;
    expect(events.length).toBeGreaterThanOrEqual(2); // capture and read
    expect(events.every((e: any) => e.personId === minePerson)).toBe(true);
    expect(JSON.stringify(res.json())).not.toContain(mine.nin);
    const inUrl = await get(`/api/audit?nin=${mine.nin}`);
    expect(inUrl.statusCode).toBe(400);
    expect(inUrl.json().error).toMatch(/Never put an identity number in a URL/);
    expect((await search({ nin: '12345678901' })).statusCode).toBe(422);
    const unknown = await search({ nin: nin('1999-09-09', 'female') });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatch(/No person with this identity number/);
    // By internal id the same events, and now also the search just made (reading is audited).
    const byId = (await get(`/api/audit?personId=${minePerson}`)).json().events;
    expect(byId.slice(0, events.length)).toEqual(events);
    expect(byId.at(-1)).toMatchObject({ action: 'audit:read', actor: 'user:admin', personId: minePerson });
  });

  it('says what is wrong with a filter', async () => {
    expect((await get('/api/audit?limit=5000')).json().error).toMatch(/at most 1000/);
    expect((await get('/api/audit?from=yesterday')).json().error).toMatch(/from must be a date/);
    expect((await get('/api/audit?who=me')).json().error).toMatch(/Unknown audit filter "who"/);
    expect((await get('/api/audit?outcome=maybe')).statusCode).toBe(400);
    expect((await get('/api/audit?format=xml')).json().error).toMatch(/format must be/);
  });

  it('audits reading the trail, against the person asked for', async () => {
    await search({ nin: mine.nin });
    const reads = await q("SELECT actor, person_id, object FROM audit_event WHERE action = 'audit:read' AND person_id = $1", [minePerson]);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads[0].actor).toBe('user:admin');
    expect(reads[0].object).not.toContain(mine.nin);
  });
});

describe('scope', () => {
  it("shows the admin of one registry that registry's events only", async () => {
    const events = (await get('/api/audit?limit=1000', fractureAdmin)).json().events;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e: any) => e.registry === 'fracture')).toBe(true);
    expect(events.some((e: any) => e.action === 'capture')).toBe(false); // capture spans registries
    expect((await get('/api/audit?limit=1000', traumaAdmin)).json().events).toEqual([]);
    const refused = await get('/api/audit?registry=fracture', traumaAdmin);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toMatch(/not of fracture/);
    expect((await get('/api/audit', t.tokens.registrarSus)).statusCode).toBe(403);
  });
});

describe('streaming', () => {
  const N = 30_000;
  beforeAll(async () => {
    await q(
      `INSERT INTO audit_event (actor, role, unit, person_id, action, object, purpose, outcome, client, registry)
      SELECT 'user:bulk', 'unit-reader', $1, g, 'read', 'fracture/case/' || g, 'case:read', 'ok', '10.0.0.1', 'fracture' FROM generate_series(1, ${N}) g`,
      [SUS_ORTHO],
    );
  });

  it('streams a large result as NDJSON from a cursor, every row once', async () => {
    const res = await get('/api/audit?format=ndjson&actor=user:bulk');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/application\/x-ndjson/);
    const lines = res.body.trim().split('\n');
    expect(lines).toHaveLength(N);
    const ids = lines.map((l) => JSON.parse(l).id);
    expect(new Set(ids).size).toBe(N);
    expect(JSON.parse(lines[N - 1])).toMatchObject({ actor: 'user:bulk', registry: 'fracture', action: 'read' });
  });

  it('a client that stops reading does not hold the database: the download is ended after KVALREG_STREAM_STALL_MS', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    // Asks for about 10 MB and reads nothing: the socket's buffers fill, and the server waits.
    socket.pause();
    socket.write(
      `GET /api/audit?format=ndjson&actor=user:bulk HTTP/1.1\r\nHost: kvalreg\r\nAuthorization: Bearer ${t.tokens.admin}\r\n\r\n`,
    );
    // The download's server process, once it has waited for its client in its transaction a while.
    let stalled: number | undefined;
    for (let i = 0; i < 200 && stalled === undefined; i++) {
      stalled = (
        await q(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'FETCH % FROM audit_stream'
             AND state = 'idle in transaction' AND state_change < clock_timestamp() - interval '300 milliseconds'`,
        )
      )[0]?.pid;
      if (stalled === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    expect(stalled, 'the download waits for its client, in its transaction').toBeDefined();
    // Ended within the stall time: the transaction is gone, and the client, reading again, finds
    // the connection closed with the download cut short (no end of the chunked body).
    const started = Date.now();
    const inTransaction = async () =>
      // (Not this query's own process: the pool may give the test that very connection once it is free.)
      (await q(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`, [stalled])).length >
      0;
    while ((await inTransaction()) && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 100));
    expect(await inTransaction()).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    socket.resume();
    await closed;
    expect(received).toMatch(/^HTTP\/1\.1 200/);
    expect(received.endsWith('\r\n0\r\n\r\n')).toBe(false);
    // The trail reads on as before.
    expect((await get('/api/audit?limit=1')).statusCode).toBe(200);
  });

  it('streams CSV for the admin of one registry, within their registry, and by Accept header', async () => {
    const res = await get('/api/audit?actor=user:bulk', fractureAdmin, { accept: 'text/csv' });
    expect(res.statusCode).toBe(200);
    const rows: any[] = parse(res.body, { columns: true });
    expect(rows).toHaveLength(N);
    expect(rows[0]).toMatchObject({ actor: 'user:bulk', registry: 'fracture', unit: SUS_ORTHO });
    const none = await get('/api/audit?actor=user:bulk&format=csv', traumaAdmin);
    expect(parse(none.body, { columns: true })).toHaveLength(0);
    const refused = await get('/api/audit?format=ndjson&registry=fracture', traumaAdmin);
    expect(refused.statusCode).toBe(403);
  });
});
