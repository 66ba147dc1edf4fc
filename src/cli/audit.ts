import pino from 'pino';
import type { Config } from '../config.ts';
import { sealAudit, verifyAudit } from '../access/audit.ts';
import { startPlatform } from '../platform.ts';

/** `kvalreg audit verify`: seals what is pending, then proves the whole chain; exit code 1 if broken. */
export async function auditVerifyCommand(config: Config): Promise<void> {
  const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
  try {
    const sealed = await sealAudit(platform.db.pool, platform.keys);
    const started = Date.now();
    const result = await verifyAudit(platform.db.pool, platform.keys, (n) => { if (process.stdout.isTTY) process.stdout.write(`  verified ${n} events\r`); });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (result.ok) {
      console.log(`The audit trail is intact: ${result.checked} events verified in ${seconds} s (${sealed} sealed now, ${result.unsealed} written meanwhile and not yet sealed).`);
    } else {
      console.log(`The audit trail is BROKEN at event ${result.broken!.seq}${result.broken!.id ? ` (row id ${result.broken!.id})` : ''}: ${result.broken!.problem}. ${result.checked} events before it are intact.`);
      process.exitCode = 1;
    }
  } finally {
    await platform.close();
  }
}
