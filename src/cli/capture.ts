import { cliLog } from './log.ts';
import { SingleBar, Presets } from 'cli-progress';
import type { Config } from '../config.ts';
import { relink } from '../capture/relink.ts';
import { startPlatform } from '../platform.ts';

/** `kvalreg capture relink`: fills values that captured resources carry but that never reached their cases (see capture/relink.ts). */
export async function relinkCommand(config: Config, o: { registry?: string; dryRun?: boolean }): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  const bar = process.stderr.isTTY
    ? new SingleBar({ format: '  relinking {bar} {value}/{total} persons', stream: process.stderr }, Presets.shades_classic)
    : null;
  try {
    const one = o.registry ? platform.registry(o.registry) : undefined;
    if (o.registry && !one)
      throw new Error(`unknown registry "${o.registry}"; registries: ${platform.registries.map((r) => r.id).join(', ')}`);
    const registries = one ? [one] : platform.registries;
    let started = false;
    const result = await relink(platform.data, registries, {
      dryRun: o.dryRun,
      onProgress: (done, total) => {
        if (!bar) return;
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
    });
    bar?.stop();
    const verb = o.dryRun ? 'would restore' : 'restored';
    console.log(`Checked ${result.persons} person(s): ${verb} ${result.restored} value(s) in ${result.cases} case(s).`);
    for (const [variable, n] of Object.entries(result.byVariable).sort()) console.log(`  ${variable}: ${n}`);
    if (o.dryRun && result.restored)
      console.log(
        'Nothing was changed (dry run). Run without --dry-run to restore them; each is recorded in the case history with its source message.',
      );
  } finally {
    bar?.stop();
    await platform.close();
  }
}
