import fs from 'node:fs';
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { startPlatform } from '../platform.ts';
import { pseudonymMapping, rotateProjectKey } from '../research/pseudonyms.ts';

const platformCaller = { kind: 'platform' as const, task: 'pseudonyms' };

/** `kvalreg pseudonyms rotate`: a new key generation for a project; its next delivery gets unlinkable pseudonyms. */
export async function pseudonymRotateCommand(config: Config, o: { registry: string; project: string }): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    if (!platform.registry(o.registry))
      throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    const r = await platform.data.transaction(platformCaller, 'pseudonyms:rotate', (tx) =>
      rotateProjectKey(tx, platform.keys, o.registry, o.project, 'platform:cli'),
    );
    console.log(
      `Project ${o.project} in ${o.registry}: pseudonym key rotated from generation ${r.from} to ${r.to}. ` +
        'The next delivery gets new pseudonyms; earlier deliveries stay reproducible. The old→new mapping is kept by the platform: `kvalreg pseudonyms map`.',
    );
  } finally {
    await platform.close();
  }
}

/** `kvalreg pseudonyms map`: old → new pseudonym for every person in the registry, written to a file only its owner can read. */
export async function pseudonymMapCommand(
  config: Config,
  o: { registry: string; project: string; from: string; to: string; out: string },
): Promise<void> {
  const from = Number(o.from),
    to = Number(o.to);
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < 0)
    throw new Error('--from and --to are key generations: whole numbers, 0 or more');
  if (fs.existsSync(o.out)) throw new Error(`${o.out} exists; give a new file for the mapping (it is never overwritten)`);
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    if (!platform.registry(o.registry))
      throw new Error(`unknown registry "${o.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    const rows = await platform.data.transaction(platformCaller, 'pseudonyms:map', (tx) =>
      pseudonymMapping(tx, platform.keys, o.registry, o.project, from, to),
    );
    fs.writeFileSync(o.out, `old,new\n${rows.map((r) => `${r.old},${r.new}`).join('\n')}\n`, { mode: 0o600, flag: 'wx' });
    console.log(
      `Wrote ${rows.length} pseudonym pairs (generation ${from} → ${to}) to ${o.out} (readable by you only). It links the project's deliveries across the rotation: never hand it to the researcher.`,
    );
  } finally {
    await platform.close();
  }
}
