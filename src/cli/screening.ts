// `kvalreg screening`: a registry's screening worklist from a file of admissions, on the command
// line. Runs as the platform's own audited work (the file and the result are person-level).
import fs from 'node:fs';
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { startPlatform } from '../platform.ts';
import { outcomesCsv, outcomesTable } from '../screening/run.ts';
import { runScreening } from '../screening/service.ts';

export async function screeningCommand(config: Config, o: { registry: string; file: string; format: string; lang: string }): Promise<void> {
  if (!['table', 'csv', 'json'].includes(o.format)) throw new Error('--format must be table, csv or json');
  if (!fs.existsSync(o.file)) throw new Error(`${o.file} does not exist`);
  const csv = fs.readFileSync(o.file, 'utf8');
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const registry = platform.registry(o.registry);
    if (!registry) throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    if (!registry.screening)
      throw new Error(
        `the ${registry.id} registry declares no screening worklist; registries with one: ${
          platform.registries
            .filter((r) => r.screening)
            .map((r) => r.id)
            .join(', ') || 'none'
        }`,
      );
    const result = await platform.data.transaction({ kind: 'platform', task: 'screening-cli' }, 'screening', (tx) =>
      runScreening(tx, registry, csv, platform.keys, { allowTestIdentities: config.allowTestIdentities }),
    );
    const lang = o.lang === 'en' ? 'en' : 'nb';
    if (o.format === 'json') console.log(JSON.stringify({ registry: registry.id, ...result }, null, 2));
    else if (o.format === 'csv') process.stdout.write(outcomesCsv(result, lang));
    else process.stdout.write(outcomesTable(registry.screening, result, lang));
  } finally {
    await platform.close();
  }
}
