import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { reencryptAll } from '../identity/reencrypt.ts';
import { startPlatform } from '../platform.ts';

/** `kvalreg keys reencrypt`: moves every encrypted value to the current key; safe to interrupt and run again. */
export async function reencryptCommand(config: Config): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const summary = await reencryptAll(platform.db.pool, platform.keys, {
      onProgress: (p) => {
        if (process.stdout.isTTY) process.stdout.write(`  ${p.table}: ${p.done} re-encrypted, ${p.remaining} left\r`);
      },
    });
    console.log(
      `Re-encrypted under key "${platform.keys.currentKeyId}": ${Object.entries(summary)
        .map(([t, n]) => `${n} in ${t}`)
        .join(', ')}. ` +
        'Nothing is left under older keys; they can be removed from the configuration once backups made with them are no longer needed.',
    );
  } finally {
    await platform.close();
  }
}
