// `kvalreg indicators` and `kvalreg analytics`: indicator results for a registry and year from the
// command line, in the formats the API gives; analytics status and rebuild.
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { definitionLines } from '../indicators/text.ts';
import { measure, measureReport, nationalCsv } from '../indicators/outputs.ts';
import { coverageFor, coverageIndex } from '../quality/coverage-link.ts';
import type { IndicatorResult } from '../indicators/service.ts';
import { startPlatform, type Platform } from '../platform.ts';
import { LEVEL_GLYPHS } from '../reports/level-symbols.ts';

const LEVELS = ['region', 'trust', 'hospital', 'department'] as const;

async function withPlatform<T>(config: Config, fn: (p: Platform) => Promise<T>): Promise<T> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
}

export async function indicatorsCommand(
  config: Config,
  o: { registry: string; year: string; unit?: string; format: string; dataset: string; lang: string },
): Promise<void> {
  if (!/^\d{4}$/.test(o.year)) throw new Error('--year must be a year like 2024');
  if (!['table', 'csv', 'json', 'fhir'].includes(o.format)) throw new Error('--format must be table, csv, json or fhir');
  if (o.dataset !== 'fresh' && o.dataset !== 'qa') throw new Error('--dataset must be fresh or qa');
  await withPlatform(config, async (platform) => {
    const registry = platform.registry(o.registry);
    if (!registry) throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    if (o.unit && !platform.units.has(o.unit)) throw new Error(`unknown unit "${o.unit}": give a RESH id`);
    // Bring the analytics up to date first: a command-line run must not report stale numbers.
    await platform.analytics.refresh();
    await platform.indicators.ensureFresh(registry);
    const dataset = o.dataset as 'fresh' | 'qa';
    const units = [platform.indicators.nation(), ...(o.unit ? [o.unit] : [])];
    const lang = o.lang === 'en' ? 'en' : 'nb';
    const inds = platform.indicators.list(registry.id);
    if (o.format === 'csv') {
      const results = o.unit
        ? await platform.indicators.results(registry, { grain: 'year', period: o.year, units: [o.unit], dataset })
        : (
            await Promise.all(
              LEVELS.map((level) => platform.indicators.results(registry, { grain: 'year', period: o.year, level, dataset })),
            )
          ).flat();
      const covIndex = await coverageIndex(platform.db.pool, registry.id);
      const covLow = platform.quality.has(registry.id) ? platform.quality.thresholds(registry).coverage.low : 0.6;
      process.stdout.write(
        nationalCsv(registry, inds, results, platform.units, (resh, period) => coverageFor(covIndex, resh, period, covLow)),
      );
      return;
    }
    const results = await platform.indicators.results(registry, { grain: 'year', period: o.year, units, dataset });
    if (o.format === 'json') {
      console.log(JSON.stringify(results, null, 2));
      return;
    }
    if (o.format === 'fhir') {
      // The same canonical URLs as the API serves (KVALREG_PUBLIC_URL).
      const base = `${platform.config.publicUrl}/fhir`;
      const runs = await platform.indicators.runs(registry);
      const entry = [
        ...inds.map((ind) => ({ resource: measure(base, registry, ind, definitionLines(ind, registry, 'nb')) })),
        ...results
          .filter((r) => r.status !== 'definition-pending')
          .map((r) => {
            const ind = inds.find((i) => i.def.id === r.indicator)!;
            return {
              resource: measureReport(
                base,
                registry,
                ind,
                platform.units,
                r,
                [],
                runs.find((x) => x.indicator === r.indicator)?.computedAt ?? new Date().toISOString(),
              ),
            };
          }),
      ];
      console.log(JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry }, null, 2));
      return;
    }
    console.log(
      `${registry.meta.title[lang]} — ${o.year} (${dataset === 'qa' ? (lang === 'nb' ? 'kvalitetssikrede data' : 'quality-assured data') : lang === 'nb' ? 'ferske data' : 'fresh data'})\n`,
    );
    const rows = inds.map((ind) => {
      const cell = (unit: string) => formatCell(results.find((r) => r.indicator === ind.def.id && r.unit.resh === unit));
      return [
        ind.def.number,
        ind.def.title[lang].slice(0, 60),
        ind.def.target ? `${ind.def.target.operator} ${Math.round(ind.def.target.value * 100)} %` : '',
        ...units.map(cell),
      ];
    });
    const header = [
      '#',
      lang === 'nb' ? 'Indikator' : 'Indicator',
      lang === 'nb' ? 'Mål' : 'Target',
      ...units.map((u) => platform.units.get(u)?.nameNb ?? u),
    ];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of rows) console.log(line(r));
    console.log(
      '\n' +
        (lang === 'nb'
          ? 'Andel (teller/nevner) [95 % KI], nivå: ● høy ▲ moderat ■ lav; trend: ↑ bedre ↓ dårligere → uendret. "for få" = holdt tilbake: nevner under minste nevner, teller under terskelen, eller tall som ville avsløre slike.'
          : 'Share (numerator/denominator) [95 % CI], level: ● high ▲ moderate ■ low; trend: ↑ better ↓ worse → unchanged. "too few" = withheld: a denominator under the minimum, a numerator under the threshold, or counts that would give such away.'),
    );
  });
}

function formatCell(r: IndicatorResult | undefined): string {
  if (!r) return '';
  if (r.status === 'definition-pending') return 'definisjon kommer';
  if (r.status === 'not-computable') return 'ikke beregnbar';
  if (r.status === 'too-few') return 'for få';
  const pct = (x: number) => `${(x * 100).toFixed(1)}`;
  // The glyphs of the figures' shapes (circle, triangle, square), so a level reads the same everywhere.
  const level = r.level ? LEVEL_GLYPHS[r.level] : ' ';
  const trend = r.trend === 'better' ? '↑' : r.trend === 'worse' ? '↓' : r.trend === 'stable' ? '→' : ' ';
  return `${pct(r.proportion!)} % (${r.numerator}/${r.denominator}) [${pct(r.interval!.lower)}–${pct(r.interval!.upper)}] ${level}${trend}`;
}

export async function analyticsCommand(config: Config, action: 'status' | 'rebuild', o: { registry?: string }): Promise<void> {
  await withPlatform(config, async (platform) => {
    const registries = o.registry ? [platform.registry(o.registry)].filter((r) => !!r) : platform.registries;
    if (o.registry && registries.length === 0) throw new Error(`unknown registry "${o.registry}"`);
    for (const r of registries) {
      if (action === 'rebuild') {
        const started = Date.now();
        const [res] = (await platform.analytics.rebuild(r!)).filter((x) => x.registry === r!.id);
        console.log(`${r!.id}: ${res?.rows ?? 0} rows recomputed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } else {
        const s = await platform.analytics.status(r!);
        console.log(
          `${r!.id}: ${s.rows} rows, ${s.pending} changes waiting, refreshed ${s.refreshedAt ?? 'never'}, newest data ${s.newestData ?? '(none)'}`,
        );
      }
    }
  });
}

export async function coverageImportCommand(config: Config, o: { registry: string; file: string; source?: string }): Promise<void> {
  const { importCoverage } = await import('../publish/coverage.ts');
  const fs = await import('node:fs');
  if (!fs.existsSync(o.file)) throw new Error(`${o.file} does not exist`);
  await withPlatform(config, async (platform) => {
    if (!platform.registry(o.registry))
      throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    const r = await importCoverage(platform.db.pool, o.registry, fs.readFileSync(o.file, 'utf8'), platform.units, o.source ?? o.file);
    console.log(`Loaded coverage for ${r.loaded} unit-year(s).`);
    for (const p of r.problems) console.log(`  ${p}`);
    if (r.problems.length) process.exitCode = 1;
  });
}
