import fs from 'node:fs';
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { checkWitness, headStatement, parseWitness, pruneAudit, sealAudit, verifyAudit } from '../access/audit.ts';
import { witnessPublicKey } from '../access/audit-keys.ts';
import { startPlatform } from '../platform.ts';

/**
 * `kvalreg audit verify [--witness FILE]`: seals what is pending, proves the whole chain (from the
 * newest signed checkpoint left by pruning), and, given witness statements kept by an outside
 * party, checks that the chain still holds each witnessed head unchanged. Exit code 1 if not.
 */
export async function auditVerifyCommand(config: Config, o: { witness?: string } = {}): Promise<void> {
  const statements = o.witness ? parseWitness(readWitness(o.witness)) : [];
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const sealed = await sealAudit(platform.db.pool, platform.auditKeys);
    const started = Date.now();
    const result = await verifyAudit(platform.db.pool, platform.auditKeys, (n) => { if (process.stdout.isTTY) process.stdout.write(`  verified ${n} events\r`); });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const from = result.from ? ` from the checkpoint after event ${result.from.seq} (events before ${result.from.prunedBefore} were pruned under the retention rule)` : '';
    if (result.ok) {
      console.log(`The audit trail is intact: ${result.checked} events verified${from} in ${seconds} s (${sealed} sealed now, ${result.unsealed} written meanwhile and not yet sealed).`);
    } else {
      console.log(`The audit trail is BROKEN at event ${result.broken!.seq}${result.broken!.id ? ` (row id ${result.broken!.id})` : ''}: ${result.broken!.problem}. ${result.checked} events before it are intact.`);
      process.exitCode = 1;
    }
    if (statements.length) {
      const checks = await checkWitness(platform.db.pool, platform.auditKeys, statements);
      for (const c of checks) console.log(`  witness of event ${c.seq}: ${c.ok ? 'ok' : 'FAILED'} — ${c.note}`);
      if (checks.some((c) => !c.ok)) {
        console.log('The chain does NOT hold what the witness saw: events were removed or rewritten since.');
        process.exitCode = 1;
      } else {
        console.log(`All ${checks.length} witnessed head(s) are in the chain unchanged.`);
      }
    }
  } finally {
    await platform.close();
  }
}

function readWitness(file: string): string {
  try { return fs.readFileSync(file, 'utf8'); } catch (err) {
    throw new Error(`cannot read the witness file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`);
  }
}

/** `kvalreg audit head`: a signed statement of the chain's head, one JSON line, for an outside party to keep. */
export async function auditHeadCommand(config: Config, o: { publicKey?: boolean }): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    if (o.publicKey) { process.stdout.write(witnessPublicKey(platform.auditKeys)); return; }
    console.log(JSON.stringify(await headStatement(platform.db.pool, platform.auditKeys)));
  } finally {
    await platform.close();
  }
}

/** `kvalreg audit prune`: removes sealed events older than the retention period, behind a signed checkpoint. */
export async function auditPruneCommand(config: Config, o: { days?: number }): Promise<void> {
  const days = o.days ?? config.auditRetentionDays;
  if (!Number.isInteger(days) || days < 1) throw new Error('--days must be a whole number of days, 1 or more');
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const r = await pruneAudit(platform.db.pool, platform.auditKeys, days);
    console.log(r.pruned
      ? `Pruned ${r.pruned} audit events older than ${days} days (before ${r.checkpoint!.prunedBefore}); verification now starts from the signed checkpoint after event ${r.checkpoint!.seq}.`
      : `Nothing to prune: no sealed audit event is older than ${days} days.`);
  } finally {
    await platform.close();
  }
}
