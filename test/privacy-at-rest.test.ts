// Nothing revealed at rest: a hospital writes a patient's identity number and name into free text,
// and someone requests a URL with an identity number in it. After a CHECKPOINT, a byte search of
// the database's files (table files and write-ahead log) and of the server's log finds neither —
// on a real `kvalreg serve` process with its own embedded PostgreSQL, logging at debug level
// (request lines included). Before, the note was stored as sent, and the URL logged as requested.
import fs from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.ts';
import { generateNin } from '../src/identity/nin.ts';
import { ehrBundle } from '../registries/fracture/bundles.ts';
import { fracture } from './helpers/fixtures.ts';
import { serveOwnDatabase, type Served } from './helpers/served.ts';

let s: Served;
let db: pg.Client;
let sender: string;
let admin: string;
beforeAll(async () => {
  s = await serveOwnDatabase({ LOG_LEVEL: 'debug' });
  db = await s.client();
  sender = await createToken(db, { name: 'privacy-ehr', kind: 'system', sender: 'privacy-ehr' });
  admin = await createToken(db, { name: 'privacy-admin', kind: 'user', grants: [{ registry: '*', role: 'registry-admin', unit: '1' }] });
}, 180_000);
afterAll(async () => {
  await db?.end();
  await s?.close();
}, 60_000);

// Synthetic numbers (the national test-data series, month + 80): valid, and never a real person.
let seed = 7;
const random = () => {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
};
const patientNin = generateNin({ birthDate: '1948-03-09', sex: 'female', random });
const relativeNin = generateNin({ birthDate: '1951-11-23', sex: 'male', kind: 'synthetic-dnr', random });
const urlNin = generateNin({ birthDate: '1977-06-30', sex: 'male', random });
const GIVEN = 'Solveig';
const SECOND_GIVEN = 'Åsmund';
const FAMILY = 'Kvernhusvik';
/** Stored in clear beside the redacted parts: proves the byte search sees the note at all. */
const CONTROL = 'skled-paa-isen-ved-Tjensvollkrysset';

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [p] : [];
  });
}
/** Which of `needles` occur in which files under the cluster's base/ (tables) and pg_wal/ (write-ahead log), and everywhere else in it. */
function search(needles: string[]): string[] {
  const hits: string[] = [];
  for (const file of files(s.pgData)) {
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(file);
    } catch {
      continue;
    } // a file removed while we looked
    for (const n of needles) if (bytes.includes(Buffer.from(n, 'utf8'))) hits.push(`${n} in ${path.relative(s.pgData, file)}`);
  }
  return hits;
}

it('keeps no identity number or name from free text or a URL in the database files or the server log', async () => {
  const f = fracture({ nin: patientNin });
  const bundle = ehrBundle(f);
  bundle.entry[0].resource.name = [{ given: [GIVEN, SECOND_GIVEN], family: FAMILY }];
  const condition = bundle.entry[2].resource;
  condition.note = [
    {
      text: `${GIVEN} ${FAMILY.toUpperCase()} (fnr ${patientNin.slice(0, 6)} ${patientNin.slice(6)}) ${CONTROL}. ${SECOND_GIVEN}s datter ringte; hans D-nr ${relativeNin}.`,
    },
  ];
  condition.code.text = `Brudd, pas. ${patientNin}`;
  const res = await fetch(`${s.url}/fhir`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sender}`, 'content-type': 'application/fhir+json' },
    body: JSON.stringify(bundle),
  });
  expect(res.status).toBe(200);
  const response = (await res.json()) as any;

  // URLs with an identity number: in a query (as a unit, a search), and in a path.
  for (const url of [
    `/api/registries/fracture/indicator-results?unit=${urlNin}`,
    `/api/registries/fracture/worklist?unit=${urlNin}`,
    `/fhir/Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1%7C${urlNin}`,
    `/fhir/Patient/${urlNin}`,
    `/api/innsyn?nin=${urlNin.slice(0, 6)}-${urlNin.slice(6)}`,
  ]) {
    const r = await fetch(`${s.url}${url}`, { headers: url.includes('worklist') ? { authorization: `Bearer ${admin}` } : {} });
    expect(r.status, url).toBeLessThan(500);
  }

  await db.query('CHECKPOINT');
  await new Promise((r) => setTimeout(r, 500)); // the log lines of the last requests reach the pipe

  const secrets = [
    patientNin,
    relativeNin,
    urlNin,
    `${patientNin.slice(0, 6)} ${patientNin.slice(6)}`,
    GIVEN,
    SECOND_GIVEN,
    FAMILY,
    FAMILY.toUpperCase(),
  ];
  // The control is found (the search sees stored text) …
  expect(search([CONTROL]).some((h) => h.includes(`base${path.sep}`))).toBe(true);
  expect(search([CONTROL]).some((h) => h.includes('pg_wal'))).toBe(true);
  // … the identity numbers and names are not.
  const hits = search(secrets);
  const nodes = hits.map((h) => /base\/\d+\/(\d+)/.exec(h)?.[1]).filter(Boolean);
  const tables = nodes.length
    ? (await db.query('SELECT relname FROM pg_class WHERE relfilenode = ANY($1::oid[])', [nodes])).rows.map((r) => r.relname)
    : [];
  const log = s.output();
  expect({ hits, tables, inLog: secrets.filter((x) => log.includes(x)) }).toEqual({ hits: [], tables: [], inLog: [] });
  expect(log).toMatch(/incoming request/); // request lines are logged at this level …
  expect(log).toMatch(/\/fhir\/Patient\/\[redacted: identity number\]/); // … with the number taken out of the path
  expect(log).toMatch(/"url":"\/api\/registries\/fracture\/worklist\?unit=…"/); // … and query values left out
  // The redaction is recorded: in the response entry (how many, never what) …
  const said = JSON.stringify(response.entry[2]);
  expect(said).toMatch(/redacted: 3 identity numbers and 3 occurrences of the patient's name in free text/);
  // … and with the stored resource.
  const stored = (await db.query("SELECT resource FROM source_resource WHERE resource_type = 'Condition'")).rows[0].resource;
  expect(stored.note[0].text).toBe(
    `[redacted: name] [redacted: name] (fnr [redacted: identity number]) ${CONTROL}. [redacted: name] datter ringte; hans D-nr [redacted: identity number].`,
  );
  expect(stored.code.text).toBe('Brudd, pas. [redacted: identity number]');
  expect(stored.meta.security[0].code).toBe('REDACTED');
  expect(stored.meta.extension[0].extension).toEqual([
    { url: 'identityNumbers', valueInteger: 3 },
    { url: 'names', valueInteger: 3 },
  ]);
}, 120_000);
