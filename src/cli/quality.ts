// `kvalreg npr import` and `kvalreg coverage compute`: an NPR extract imported for a registry and
// linked with its cases (src/quality/), as the platform's own audited work.
import fs from 'node:fs';
import pino from 'pino';
import type { Config } from '../config.ts';
import { startPlatform } from '../platform.ts';

const CLI = { kind: 'platform', task: 'cli' } as const;

export async function nprImportCommand(
  config: Config,
  o: { registry: string; file: string; source?: string; dryRun?: boolean },
): Promise<void> {
  if (!fs.existsSync(o.file)) throw new Error(`${o.file} does not exist`);
  const csv = fs.readFileSync(o.file, 'utf8');
  const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
  try {
    const registry = platform.registry(o.registry);
    if (!registry) throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    await platform.analytics.refresh();
    const r = await platform.quality.importNpr(CLI, registry, csv, platform.keys, {
      source: o.source ?? o.file,
      allowTestIdentities: config.allowTestIdentities,
      dryRun: o.dryRun,
    });
    console.log(
      `${r.dryRun ? 'Dry run: ' : ''}${r.rows} episodes read, ${r.selected} belong to ${registry.id} (${r.duplicates} follow-up contacts of an event), ${r.reserved} of patients who opted out (counted, not stored), ${r.dryRun ? 'nothing' : r.stored} stored; years ${r.years.join(', ')}.`,
    );
    if (!r.dryRun) await printCoverage(platform, registry.id);
  } finally {
    await platform.close();
  }
}

export async function coverageComputeCommand(config: Config, o: { registry: string }): Promise<void> {
  const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
  try {
    const registry = platform.registry(o.registry);
    if (!registry) throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    await platform.analytics.refresh();
    await platform.quality.computeCoverage(registry);
    await printCoverage(platform, registry.id);
  } finally {
    await platform.close();
  }
}

async function printCoverage(platform: Awaited<ReturnType<typeof startPlatform>>, id: string): Promise<void> {
  const registry = platform.registry(id)!;
  const nation = platform.units.all().find((u) => u.level === 'nation')!.resh;
  const hospitals = platform.units
    .all()
    .filter((u) => u.level === 'hospital')
    .map((u) => u.resh);
  const rows = (await platform.quality.coverageRows(registry)).filter((r) => r.unit === nation || hospitals.includes(r.unit));
  const pct = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)} %`);
  console.log(['year', 'unit', 'both', 'only NPR', 'only registry', 'reserved', 'coverage'].join('\t'));
  for (const r of rows)
    console.log(
      [r.year, platform.units.get(r.unit)?.nameNb ?? r.unit, r.bothNpr, r.onlyNpr, r.onlyRegistry, r.reserved, pct(r.coverage)].join('\t'),
    );
}

/** `kvalreg metadata scaffold`: a new registry folder from a REDCap dictionary or a canonical codebook, checked by loading it. */
export async function scaffoldCommand(
  config: Config,
  o: { from: string; file: string; id: string; title: string; dir?: string },
): Promise<void> {
  const { fromCodebook, fromRedcap, writeRegistryFolder } = await import('../metadata/scaffold.ts');
  const { loadRegistry } = await import('../registry/load.ts');
  const path = await import('node:path');
  if (o.from !== 'redcap' && o.from !== 'codebook') throw new Error('--from must be redcap or codebook');
  if (!fs.existsSync(o.file)) throw new Error(`${o.file} does not exist`);
  const text = fs.readFileSync(o.file, 'utf8');
  const dict = o.from === 'redcap' ? fromRedcap(text) : fromCodebook(text);
  const dir = path.resolve(o.dir ?? config.registriesDir, o.id);
  const files = writeRegistryFolder(dir, dict, { id: o.id, title: o.title });
  const r = await loadRegistry(dir);
  console.log(
    `Wrote ${files.join(', ')} in ${dir}: ${r.forms.length} forms, ${r.variables.size} variables, ${r.codelists.size} code lists. It loads; now declare its inclusion rule, FHIR mapping and indicators.`,
  );
}
