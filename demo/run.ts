// The platform's demo: one synthetic year of fracture traffic (the first registry's), with known
// true rates, sent through the real FHIR API from three senders. Kept outside src/ because it is
// one registry's data; `kvalreg demo` and the first `npm start` run it.
import fs from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { createToken } from '../src/auth/tokens.ts';
import { ninHash } from '../src/identity/crypto.ts';
import { ehrBundle, plannerBundle, SYS } from '../registries/fracture/bundles.ts';
import { traumaBundle } from '../registries/trauma/bundles.ts';
import { demoName } from './names.ts';
import { DEFAULT_RATES, generateFractures, type DemoRates } from './fracture/generate.ts';
import { generateTraumaEvents } from './trauma/generate.ts';
import { generateNprExtract, plantedCoverage } from './fracture/npr.ts';
import { generatePromAnswers } from './fracture/prom.ts';
import { sendBundles } from './send.ts';
import type { Platform } from '../src/platform.ts';

/** The demo patient's (synthetic) identity number, for the local login service's pid claim. */
export const DEMO_PATIENT_FILE = 'demo-patient-nin.txt';

export interface DemoOpts {
  years: number;
  scale: number;
  seed: number;
  concurrency: number;
  rate?: string[];
  /** The PROM system's answers too (default: yes). */ prom?: boolean;
}

export function parseRates(pairs: string[] = []): DemoRates {
  const rates = { ...DEFAULT_RATES };
  for (const p of pairs) {
    const [k, v] = p.split('=');
    if (!(k in rates)) throw new Error(`--rate ${p}: unknown rate "${k}"; known: ${Object.keys(rates).join(', ')}`);
    const n = Number(v);
    if (!(n >= 0 && n <= 1)) throw new Error(`--rate ${p}: a rate is a number from 0 to 1`);
    (rates as any)[k] = n;
  }
  return rates;
}

/** Demo senders and logins, created once and written to var/demo-logins.txt. */
async function demoTokens(platform: Platform, patientNin: string | undefined) {
  const db = platform.db.pool;
  const file = path.join(platform.config.dataDir, 'demo-logins.txt');
  const make = async (name: string, t: Parameters<typeof createToken>[1]) => ({ name, token: await createToken(db, t) });
  const list = [
    await make('demo-ehr', { name: 'demo-ehr', kind: 'system', sender: 'demo-dips-arena' }),
    await make('demo-planner', { name: 'demo-planner', kind: 'system', sender: 'demo-orbit' }),
    await make('demo-population-register', { name: 'demo-population-register', kind: 'system', sender: 'demo-folkeregister' }),
    await make('demo-prom-system', { name: 'demo-prom-system', kind: 'system', sender: 'demo-eprom' }),
    await make('demo-registry-admin', {
      name: 'demo-registry-admin',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'registry-admin', unit: '1' }],
    }),
    await make('demo-registrar-sus', {
      name: 'demo-registrar-sus',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-registrar', unit: '8201100' }],
    }),
    await make('demo-reader-sus', {
      name: 'demo-reader-sus',
      kind: 'user',
      grants: [{ registry: 'fracture', role: 'unit-reader', unit: '100083' }],
    }),
  ];
  // A demo patient (the first synthetic fracture) for trying innsyn: GET /api/innsyn.
  if (patientNin)
    list.push(
      await make('demo-patient', {
        name: 'demo-patient',
        kind: 'user',
        grants: [{ registry: '*', role: 'patient', unit: '1' }],
        personHash: ninHash(platform.keys, patientNin),
      }),
    );
  fs.mkdirSync(platform.config.dataDir, { recursive: true });
  if (patientNin) fs.writeFileSync(path.join(platform.config.dataDir, DEMO_PATIENT_FILE), `${patientNin}\n`, { mode: 0o600 });
  fs.writeFileSync(file, list.map((l) => `${l.name}\t${l.token}`).join('\n') + '\n', { mode: 0o600 });
  return Object.fromEntries(list.map((l) => [l.name, l.token])) as Record<string, string>;
}

export async function runDemo(platform: Platform, baseUrl: string, o: DemoOpts) {
  const registry = platform.registry('fracture');
  if (!registry) throw new Error('the fracture registry is not loaded');
  // Demo codes: the group codes of each segment or bone.
  const list = registry.codelists.get('ao_ota_2018')!;
  const codes = [...list.properties.entries()].filter(([code, p]) => p.group === code).map(([code]) => code);
  const departments = platform.units.all().filter((u) => u.level === 'department' && u.kind !== 'emergency_department');
  const demoArea = new Set((await platform.db.pool.query('SELECT resh FROM org_unit WHERE demo_area')).rows.map((r) => r.resh));
  const units = departments.map((d) => ({ resh: d.resh, weight: d.path.some((p) => demoArea.has(p)) ? 40 : 1 }));
  const rates = parseRates(o.rate);
  const fractures = generateFractures({
    years: o.years,
    scale: o.scale,
    seed: o.seed,
    rates,
    units,
    lastYear: new Date().getFullYear() - 1,
    codesByPrefix: (prefix) =>
      codes.filter((c) => {
        const x = list.properties.get(c)!;
        return x.segment === prefix || x.bone === prefix;
      }),
  });
  const tokens = await demoTokens(platform, fractures.find((f) => !f.aoCode.startsWith('31'))?.nin);
  const items: Array<{ token: string; bundle: unknown }> = [];
  for (const f of fractures) {
    items.push({ token: tokens['demo-ehr'], bundle: ehrBundle({ ...f, name: demoName(f.nin, f.gender), deceasedDate: undefined }) });
    const p = plannerBundle(f);
    if (p) items.push({ token: tokens['demo-planner'], bundle: p });
  }
  // Death notices from the population register, in batches.
  const deaths = fractures.filter((f) => f.deceasedDate);
  for (let i = 0; i < deaths.length; i += 200) {
    items.push({
      token: tokens['demo-population-register'],
      bundle: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: deaths.slice(i, i + 200).map((f) => ({
          resource: { resourceType: 'Patient', identifier: [{ system: SYS.fnr, value: f.nin }], deceasedDateTime: f.deceasedDate },
          request: { method: 'PUT', url: 'Patient' },
        })),
      },
    });
  }
  // The trauma register's events, from the same record systems through the same API.
  const traumaEvents = platform.registry('trauma')
    ? generateTraumaEvents({
        years: o.years,
        scale: o.scale,
        seed: o.seed,
        lastYear: new Date().getFullYear() - 1,
        units: platform.units
          .all()
          .filter((u) => u.level === 'department' && u.kind === 'emergency_department')
          .map((d) => ({
            resh: d.resh,
            hospital: d.parent ?? d.resh,
            weight: d.path.some((p) => demoArea.has(p)) ? 40 : 1,
            trauma: d.path.some((p) => demoArea.has(p)),
          })),
      })
    : [];
  for (const e of traumaEvents) items.push({ token: tokens['demo-ehr'], bundle: traumaBundle({ ...e, name: demoName(e.nin, undefined) }) });
  const bar = new SingleBar(
    { format: 'demo |{bar}| {value}/{total} messages | {eta_formatted} left', hideCursor: true },
    Presets.shades_classic,
  );
  const started = Date.now();
  if (process.stdout.isTTY) bar.start(items.length, 0);
  const stats = await sendBundles(baseUrl, items, { concurrency: o.concurrency, onProgress: (n) => process.stdout.isTTY && bar.update(n) });
  if (process.stdout.isTTY) bar.stop();
  // PROM answers from the hospital's PROM system, once the cases are there: QuestionnaireResponses
  // for every time point whose window has closed, with the planted response and improvement rates.
  const param = (id: string, key: string) => {
    const p = registry.parameters.get(id);
    return p && typeof p.values === 'object' ? Number((p.values as Record<string, unknown>)[key] ?? NaN) : NaN;
  };
  const prom =
    o.prom === false
      ? { bundles: [], truth: { asked: [], improved: [] }, responses: 0 }
      : generatePromAnswers(fractures, {
          seed: o.seed,
          rates,
          instruments: platform.prom.instruments,
          now: new Date(),
          ao: (code) => {
            const p = list.properties.get(code);
            return p ? { bone: p.bone, segment: p.segment } : undefined;
          },
          thresholds: (prefix) => {
            const mcii = param('prom_mcii', prefix),
              pass = param('prom_pass', prefix);
            return Number.isFinite(mcii) && Number.isFinite(pass) ? { mcii, pass } : null;
          },
        });
  const promBar = new SingleBar(
    { format: 'PROM |{bar}| {value}/{total} batches of answers | {eta_formatted} left', hideCursor: true },
    Presets.shades_classic,
  );
  if (process.stdout.isTTY) promBar.start(prom.bundles.length, 0);
  const promStats = await sendBundles(
    baseUrl,
    prom.bundles.map((bundle) => ({ token: tokens['demo-prom-system'], bundle })),
    { concurrency: o.concurrency, onProgress: (n) => process.stdout.isTTY && promBar.update(n) },
  );
  if (process.stdout.isTTY) promBar.stop();
  for (const k of ['sent', 'ok', 'failed'] as const) stats[k] += promStats[k];
  stats.failures.push(...promStats.failures);
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `Sent ${stats.sent} messages (${fractures.length} fractures, ${traumaEvents.length} trauma receptions, ${prom.responses} PROM answers) in ${seconds.toFixed(1)} s: ${stats.ok} accepted, ${stats.failed} refused.`,
  );
  for (const f of stats.failures) console.log(`  refused (${f.status}): ${f.body}`);
  console.log(
    `True rates planted (seed ${o.seed}): ${Object.entries(rates)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  // An NPR extract with a planted coverage per hospital, imported and linked (docs/data-quality.md).
  const hospitalOf = (unit: string) => platform.units.ancestorAt(unit, 'hospital')?.resh ?? unit;
  const hospitals = platform.units.all().filter((u) => u.level === 'hospital');
  const planted = plantedCoverage(
    hospitals.map((h) => h.resh),
    new Set(hospitals.filter((h) => h.path.some((p) => demoArea.has(p))).map((h) => h.resh)),
  );
  const npr = generateNprExtract(fractures, { seed: o.seed, hospitalOf, planted });
  fs.writeFileSync(path.join(platform.config.dataDir, 'demo-npr-fracture.csv'), npr.csv, { mode: 0o600 });
  let coverage = 0;
  if (platform.quality.has('fracture') && platform.quality.definition('fracture')?.npr) {
    await platform.analytics.refresh();
    const imported = await platform.quality.importNpr({ kind: 'platform', task: 'demo' }, registry, npr.csv, platform.keys, {
      source: 'demo NPR extract',
      allowTestIdentities: true,
    });
    coverage = imported.coverage;
    console.log(
      `NPR extract: ${imported.selected} fracture episodes (${imported.stored} stored), coverage computed for ${coverage} unit-years; planted per hospital: the demo area 92 %, the others 95/85/70/50 %.`,
    );
  }
  return {
    fractures: fractures.length,
    specs: fractures,
    traumaEvents: traumaEvents.length,
    prom: prom.truth,
    promResponses: prom.responses,
    planted,
    nprEpisodes: npr.episodes,
    ...stats,
  };
}
