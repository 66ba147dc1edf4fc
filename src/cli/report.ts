// `kvalreg report annual`: the annual report as PDF, from the same code as the API.
import fs from 'node:fs';
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { startPlatform } from '../platform.ts';

export async function annualReportCommand(
  config: Config,
  o: { registry: string; year: string; out: string; dataset: string },
): Promise<void> {
  if (!/^\d{4}$/.test(o.year)) throw new Error('--year must be a year like 2024');
  if (o.dataset !== 'fresh' && o.dataset !== 'qa') throw new Error('--dataset must be fresh or qa');
  const platform = await startPlatform(config, { log: cliLog(config.logLevel === 'info' ? 'warn' : config.logLevel) });
  try {
    const registry = platform.registry(o.registry);
    if (!registry) throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    // Bring the analytics up to date first: a report must not be built from stale rows.
    await platform.analytics.refresh();
    const started = performance.now();
    const pdf = await platform.reports.annual(registry, o.year, { dataset: o.dataset });
    const seconds = (performance.now() - started) / 1000;
    fs.writeFileSync(o.out, pdf);
    console.log(
      `${o.out}: annual report ${o.year} of ${registry.id} (${Math.round(pdf.length / 1024)} KiB, made in ${seconds.toFixed(1)} s)`,
    );
  } finally {
    await platform.close();
  }
}
