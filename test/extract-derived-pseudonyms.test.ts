// Research extracts, continued: derived variables follow the extract's date handling and are as
// protected as what they are computed from; project pseudonym keys can be rotated, with the old →
// new mapping kept by the platform, and earlier deliveries stay reproducible.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pseudonymMapCommand, pseudonymRotateCommand } from '../src/cli/pseudonyms.ts';
import { loadConfig } from '../src/config.ts';
import { ehrBundle, plannerBundle } from '../registries/fracture/bundles.ts';
import { encryptedKeyId, loadIdentityKeys } from '../src/identity/crypto.ts';
import { reencryptAll } from '../src/identity/reencrypt.ts';
import { projectRoot } from '../src/config.ts';
import { fracture, nin } from './helpers/fixtures.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
let registriesDir: string;
beforeAll(async () => {
  // The fracture registry with two more derived variables: a date and one declared a direct
  // identifier (its own injury_month is the calendar component of a date).
  registriesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-registries-'));
  fs.cpSync(path.join(projectRoot(), 'registries'), registriesDir, { recursive: true });
  const codebook = path.join(registriesDir, 'fracture', 'codebook.yaml');
  fs.writeFileSync(
    codebook,
    fs.readFileSync(codebook, 'utf8').replace(
      /\nderived:\n/,
      `
derived:
  - id: surgery_date
    type: date
    label: { nb: Operasjonsdato, en: Date of surgery }
    description: { nb: Datoen for primæroperasjonen., en: The date of the primary operation. }
    expr: "date(surgery_datetime)"
  - id: injury_key
    type: text
    label: { nb: Skadenøkkel, en: Injury key }
    description: { nb: Til test av deklarert personvernklasse., en: For testing a declared privacy class. }
    expr: "ao_code"
    privacy: direct-identifier
`,
    ),
  );
  t = await testPlatform({ KVALREG_REGISTRIES_DIR: registriesDir });
  for (let i = 0; i < 6; i++) {
    const f = fracture({
      nin: nin(`19${50 + i}-12-2${i}`, i % 2 ? 'male' : 'female'),
      intent: 'operative',
      injuryDateTime: `2024-0${i + 1}-01T10:00:00+01:00`,
      firstContact: `2024-0${i + 1}-01T11:00:00+01:00`,
      surgery: { start: `2024-0${i + 1}-03T12:30:00+01:00` },
    });
    for (const b of [ehrBundle(f), plannerBundle(f)].filter(Boolean)) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(b),
      });
      expect(res.statusCode).toBe(200);
    }
  }
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(registriesDir, { recursive: true, force: true });
});

const definition = (over: Record<string, unknown> = {}) => ({
  project: 'P-DERIVED',
  approvalRef: 'REK 1',
  expires: '2030-12-31',
  variables: [
    'injury_date',
    'surgery_datetime',
    'surgery_date',
    'injury_month',
    'age_at_injury',
    'birth_year',
    'days_injury_to_surgery',
    'ao_bone',
  ],
  dates: 'shift',
  ...over,
});
const deliver = async (body: unknown) => {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/registries/fracture/extracts',
    headers: { authorization: `Bearer ${t.tokens.admin}` },
    payload: body as any,
  });
  return res;
};
const q = async (sql: string, p: unknown[] = []) => (await t.platform.db.pool.query(sql, p)).rows;

describe('derived variables', () => {
  it('are as protected as what they are computed from, or as declared', async () => {
    const r = t.platform.registry('fracture')!;
    const privacy = Object.fromEntries(r.derived.map((d) => [d.def.id, d.privacy]));
    expect(privacy).toMatchObject({
      age_at_injury: 'indirect-identifier',
      surgery_date: 'indirect-identifier',
      injury_month: 'indirect-identifier',
      injury_key: 'direct-identifier',
    });
    expect(privacy.ao_bone).toBe(r.variables.get('ao_code')!.def.privacy);
    const res = await deliver(definition({ variables: ['ao_code', 'injury_key'] }));
    expect(res.statusCode).toBe(422);
    expect(res.json().error).toMatch(/"injury_key" is a direct identifier/);
    const dict = (await deliver(definition())).json().dictionary.json;
    expect(dict.find((d: any) => d.variable === 'age_at_injury')).toMatchObject({ privacy: 'indirect-identifier' });
    expect(dict.find((d: any) => d.variable === 'surgery_date')).toMatchObject({ privacy: 'indirect-identifier', dates: 'shift' });
  });

  it("follow the date shift: derived dates move with the person's other dates, and calendar parts follow the shifted dates", async () => {
    const rows: any[] = parse((await deliver(definition())).json().csv, { columns: true });
    expect(rows).toHaveLength(6);
    for (const r of rows) {
      // The derived date is the shifted surgery's date (midday: the same date in UTC and Norwegian time).
      expect(r.surgery_date).toBe(r.surgery_datetime.slice(0, 10));
      expect(Number(r.injury_month)).toBe(Number(r.injury_date.slice(5, 7)));
      expect(Number(r.days_injury_to_surgery)).toBe(2); // intervals hold
      // Age and birth year come from the shifted birth date: consistent with the shifted injury date.
      const years = Number(r.injury_date.slice(0, 4)) - Number(r.birth_year);
      expect([years - 1, years]).toContain(Number(r.age_at_injury));
    }
  });

  it('follow coarsening: derived dates are coarsened like every date; intervals stay exact', async () => {
    const rows: any[] = parse((await deliver(definition({ dates: 'month' }))).json().csv, { columns: true });
    for (const [i, r] of rows.entries()) {
      expect(r.surgery_date).toBe(`2024-0${i + 1}`);
      expect(r.injury_date).toBe(`2024-0${i + 1}`);
      expect(Number(r.days_injury_to_surgery)).toBe(2);
    }
  });
});

describe('pseudonym keys', () => {
  const project = 'P-ROTATE';
  it('gives a new project a random key, rotates it, keeps old deliveries reproducible, and maps old to new for the platform only', async () => {
    const first = (await deliver(definition({ project }))).json();
    expect(first.pseudonymGeneration).toBe(1);
    const same = (await deliver(definition({ project }))).json();
    expect(same.csv).toBe(first.csv); // stable within a generation

    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-map-'));
    try {
      const config = loadConfig(t.env);
      await pseudonymRotateCommand(config, { registry: 'fracture', project });
      expect(String(log.mock.calls.at(-1)![0])).toMatch(/rotated from generation 1 to 2/);
      const second = (await deliver(definition({ project }))).json();
      expect(second.pseudonymGeneration).toBe(2);
      const a: any[] = parse(first.csv, { columns: true });
      const b: any[] = parse(second.csv, { columns: true });
      expect(b.map((r) => r.pseudonym).filter((p) => a.some((x) => x.pseudonym === p))).toEqual([]);
      // The earlier delivery still reproduces exactly, with its own generation.
      const again = await t.app.inject({
        method: 'GET',
        url: `/api/registries/fracture/extracts/${first.id}/reproduce`,
        headers: { authorization: `Bearer ${t.tokens.admin}` },
      });
      expect(again.json()).toMatchObject({ sameAsDelivered: true });
      // The platform's mapping links them, case by case.
      const out = path.join(dir, 'map.csv');
      await pseudonymMapCommand(config, { registry: 'fracture', project, from: '1', to: '2', out });
      expect(fs.statSync(out).mode & 0o777).toBe(0o600);
      const map = new Map((parse(fs.readFileSync(out, 'utf8'), { columns: true }) as any[]).map((r) => [r.old, r.new]));
      a.forEach((r, i) => expect(map.get(r.pseudonym)).toBe(b[i].pseudonym));
      await expect(pseudonymMapCommand(config, { registry: 'fracture', project, from: '1', to: '2', out })).rejects.toThrow(/exists/);
      expect((await q("SELECT count(DISTINCT person_id)::int AS n FROM audit_event WHERE action = 'pseudonym-map'"))[0].n).toBe(6);
      await expect(pseudonymRotateCommand(config, { registry: 'fracture', project: 'NEVER-DELIVERED' })).rejects.toThrow(/no delivery/);
    } finally {
      log.mockRestore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps a project delivered before key generations on its derived key until it is rotated', async () => {
    await q(`INSERT INTO extract_delivery (registry, project, approval_ref, expires, definition, delivered_by, row_count, sha256, k_report)
             VALUES ('fracture', 'P-OLD', 'REK 0', '2030-12-31', '{}', 'admin', 0, '', '{}')`);
    const d = (await deliver(definition({ project: 'P-OLD' }))).json();
    expect(d.pseudonymGeneration).toBe(0);
    const legacy = Buffer.from(
      crypto.hkdfSync('sha256', t.platform.keys.hashKey, Buffer.from('fracture'), 'kvalreg research pseudonym P-OLD', 32),
    );
    const person = (await q('SELECT person_id FROM registry_case ORDER BY id LIMIT 1'))[0].person_id;
    const expected = crypto.createHmac('sha256', legacy).update(`p${person}`).digest('base64url').slice(0, 16);
    expect((parse(d.csv, { columns: true }) as any[])[0].pseudonym).toBe(expected);
  });

  it('are re-encrypted with everything else when the encryption key is rotated', async () => {
    const env = {
      KVALREG_ENCRYPTION_KEY: crypto.randomBytes(32).toString('base64'),
      KVALREG_ENCRYPTION_KEY_ID: 'k2',
      KVALREG_ENCRYPTION_KEYS_OLD: `k1:${t.env.KVALREG_ENCRYPTION_KEY}`,
      KVALREG_HASH_KEY: t.env.KVALREG_HASH_KEY,
    };
    const summary = await reencryptAll(t.platform.db.pool, loadIdentityKeys({ env, keyFile: '/nonexistent', log: () => undefined }));
    expect(summary.pseudonym_key).toBeGreaterThan(0);
    expect((await q('SELECT key_enc FROM pseudonym_key')).every((r) => encryptedKeyId(r.key_enc) === 'k2')).toBe(true);
  });
});
