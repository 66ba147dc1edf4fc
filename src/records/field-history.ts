// Each field's history on the case page: every value it has had, when, and from where — the sending
// system by name or the person who typed it — and each form's status changes. From the case's
// change-sets (value_history), read through the door like the case itself.
import type { PersonTx } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { history } from './workflow.ts';

export interface FieldChange {
  at: string;
  from: unknown;
  to: unknown;
  source: { kind: 'system' | 'user' | 'unknown'; name: string | null; retracted?: boolean; merged?: boolean; repair?: boolean };
}
export interface FieldHistory {
  form: string;
  instance: string;
  variable: string;
  changes: FieldChange[];
}

export async function fieldHistory(tx: PersonTx, registry: Registry, caseId: number): Promise<FieldHistory[]> {
  const rows = await history(tx, registry, caseId);
  const users = [...new Set(rows.map((r) => (r.source?.kind === 'user' ? String(r.source.user) : null)).filter((x): x is string => !!x))];
  const senders = new Map(
    (await tx.client.query('SELECT sender, name FROM kvalreg_sender_names()')).rows.map((r) => [r.sender as string, r.name as string]),
  );
  const people = new Map(
    users.length
      ? (await tx.client.query('SELECT subject, name FROM kvalreg_user_names($1)', [users])).rows.map((r) => [
          r.subject as string,
          r.name as string,
        ])
      : [],
  );
  const byField = new Map<string, FieldHistory>();
  for (const r of rows) {
    const src = r.source ?? {};
    const source: FieldChange['source'] =
      src.kind === 'system'
        ? {
            kind: 'system',
            name: senders.get(src.sender) ?? src.sender ?? null,
            ...(src.mergedFrom ? { merged: true } : {}),
            ...(src.repair ? { repair: true } : {}),
          }
        : src.kind === 'user'
          ? { kind: 'user', name: people.get(src.user) ?? null }
          : { kind: 'unknown', name: null };
    for (const [variable, change] of Object.entries(r.changes as Record<string, [unknown, unknown]>)) {
      const key = `${r.form}#${r.instance}#${variable}`;
      const entry: FieldHistory = byField.get(key) ?? { form: r.form, instance: r.instance, variable, changes: [] };
      entry.changes.push({ at: new Date(r.changed_at).toISOString(), from: change[0], to: change[1], source });
      byField.set(key, entry);
    }
  }
  return [...byField.values()];
}
