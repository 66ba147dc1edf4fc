import fs from 'node:fs';
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import {
  acceptRestore,
  AuditSealRefused,
  checkWitness,
  headStatement,
  parseWitness,
  pruneAudit,
  sealAudit,
  verifyAudit,
  type Problem,
  type ProblemKind,
} from '../audit/trail.ts';
import { witnessPublicKey } from '../audit/keys.ts';
import { startPlatform } from '../platform.ts';

/** One label per kind of problem, so that each kind of tampering reads differently. */
const LABEL: Record<ProblemKind, string> = {
  deleted: 'EVENT DELETED',
  'removed-from-start': 'OLDEST EVENTS REMOVED WITHOUT A CHECKPOINT',
  relinked: 'LINK BROKEN',
  changed: 'EVENT CHANGED',
  'key-not-loaded': 'AUDIT KEY NOT LOADED',
  'legacy-seal': 'LEGACY-KEY SEAL REFUSED',
  'checkpoint-forged': 'CHECKPOINT FORGED',
  'checkpoint-not-pruned': 'CHECKPOINT WITHOUT ITS PRUNING',
  'back-dated': 'BACK-DATED EVENT',
  'forward-dated': 'FORWARD-DATED EVENT',
  emptied: 'TRAIL EMPTIED',
  shortened: 'TRAIL SHORTENED',
  'rolled-back': 'DATABASE ROLLED BACK',
  're-sealed': 'TRAIL RE-SEALED',
  'state-removed': 'SIGNED STATE REMOVED',
  'state-forged': 'SIGNED STATE FORGED',
};

export function describeProblem(p: Problem): string {
  return `${LABEL[p.kind]} at event ${p.seq}${p.id ? ` (row id ${p.id})` : ''}: ${p.problem}.`;
}

/**
 * `kvalreg audit verify [--witness FILE]`: seals what is pending, proves the whole chain (from the
 * newest signed checkpoint left by pruning), compares where it ends with the sealer's signed
 * state, and, given witness statements kept by an outside party, checks that the chain still
 * holds each witnessed head unchanged. Each kind of problem is reported by its own label; exit
 * code 1 if there is any.
 */
export async function auditVerifyCommand(config: Config, o: { witness?: string } = {}): Promise<void> {
  const statements = o.witness ? parseWitness(readWitness(o.witness)) : [];
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    let sealed = 0;
    let refused = false;
    try {
      sealed = await sealAudit(platform.db.pool, platform.auditKeys);
    } catch (err) {
      if (!(err instanceof AuditSealRefused)) throw err;
      refused = true; // verification below reports why
    }
    const started = Date.now();
    const result = await verifyAudit(platform.db.pool, platform.auditKeys, (n) => {
      if (process.stdout.isTTY) process.stdout.write(`  verified ${n} events\r`);
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const from = result.from
      ? ` from the checkpoint after event ${result.from.seq} (events before ${result.from.prunedBefore} were pruned under the retention rule)`
      : '';
    if (result.ok) {
      console.log(
        `The audit trail is intact: ${result.checked} events verified${from} in ${seconds} s (${sealed} sealed now, ${result.unsealed} written meanwhile and not yet sealed).`,
      );
    } else {
      const n = result.problems.length;
      console.log(
        `The audit trail is BROKEN: ${n} problem${n === 1 ? '' : 's'}, the first at event ${result.broken!.seq}; ${result.checked} events were verified${from}.`,
      );
      for (const p of result.problems) console.log(`  ${describeProblem(p)}`);
      if (refused)
        console.log(
          `  Sealing was refused until this is explained: ${result.unsealed} events wait unsealed. If a database backup was restored, \`kvalreg audit accept-restore --reason …\` records it.`,
        );
      process.exitCode = 1;
    }
    if (result.legacy)
      console.log(
        `  Events up to ${result.legacy.seq} were sealed with the legacy key before the trail had its own; the migration checkpoint of ${result.legacy.pinnedAt} pins them under the audit key.`,
      );
    for (const r of result.restores)
      console.log(
        `  A restore from a backup was accepted at ${r.at}: the trail continued from event ${r.seq}, though events up to ${r.stateSeq} had been sealed (${r.reason}).`,
      );
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

/**
 * `kvalreg audit accept-restore --reason TEXT`: after a database backup was restored, the trail
 * ends before the sealer's signed state and sealing stops. This records the restore in a
 * checkpoint signed with the audit key (with the reason), and sealing goes on from the restored
 * head. The chain itself must hold.
 */
export async function auditAcceptRestoreCommand(config: Config, o: { reason?: string }): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const r = await acceptRestore(platform.db.pool, platform.auditKeys, o.reason ?? '');
    const sealed = await sealAudit(platform.db.pool, platform.auditKeys);
    console.log(
      `Recorded a signed restore checkpoint: the trail goes on from event ${r.seq} (events up to ${r.stateSeq} had been sealed before the restore and are lost). ${sealed} pending events sealed.`,
    );
  } finally {
    await platform.close();
  }
}

function readWitness(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the witness file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`,
    );
  }
}

/** `kvalreg audit head`: a signed statement of the chain's head, one JSON line, for an outside party to keep. */
export async function auditHeadCommand(config: Config, o: { publicKey?: boolean }): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    if (o.publicKey) {
      process.stdout.write(witnessPublicKey(platform.auditKeys));
      return;
    }
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
    console.log(
      r.pruned
        ? `Pruned ${r.pruned} audit events older than ${days} days (before ${r.checkpoint!.prunedBefore}); verification now starts from the signed checkpoint after event ${r.checkpoint!.seq}.`
        : `Nothing to prune: no sealed audit event is older than ${days} days.`,
    );
  } finally {
    await platform.close();
  }
}
