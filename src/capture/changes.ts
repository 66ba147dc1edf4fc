// What the capture of one message writes, collected while the pipeline decides (capture/pipeline.ts)
// and written by one server-side function, `kvalreg_capture_write` (migration 110), together with
// the raw message (capture/inbox.ts) in the round trip that commits. The function keeps the rules
// that decide between writers inside the writes and aborts the transaction as a serialization
// failure when a write disagrees with what was read (the data-access door runs it again).
import type { Queryable } from '../db/pool.ts';
import { prepared } from '../db/pool.ts';
import { storeNamesSql } from './patient-name.ts';
import type { FormWrites } from '../records/cases.ts';

type Row = Record<string, unknown>;

/** The raw message's row: stored with its outcome (a new message), or marked processed (recovery, reprocessing). */
export type MessageWrite =
  | {
      insert: {
        channel: string;
        sha: string;
        enc: string;
        nin_hashes: string[];
        status: string;
        outcome: unknown;
        person_ids: number[];
        refused: boolean;
      };
    }
  | { update: { status: string; outcome: unknown; person_ids: number[]; refused: boolean } };

export class CaptureChanges {
  personUpdates: Row[] = [];
  personInserts: Row[] = [];
  resources: Row[] = [];
  deletions: string[] = [];
  cases: Row[] = [];
  caseUpdates: Row[] = [];
  forms: Row[] = [];
  history: Row[] = [];
  decisions: Row[] = [];
  /** Patients' names, encrypted (capture/patient-name.ts): stored after the persons are written. */
  names: Row[] = [];
  message: MessageWrite | undefined;
  /** Entries refused because their patient opted out (counted without identity). */
  refused = 0;

  constructor(
    readonly messageId: number,
    readonly sender: string,
    readonly at = new Date().toISOString(),
  ) {}

  /** Forms and history one registry's cases get (records/cases.ts). */
  addForms(registry: string, w: Pick<FormWrites, 'forms' | 'history'>): void {
    for (const f of w.forms) this.forms.push({ registry, ...f });
    for (const h of w.history) this.history.push({ registry, ...h });
  }

  isEmpty(): boolean {
    return (
      !this.message &&
      !this.refused &&
      [
        this.personUpdates,
        this.personInserts,
        this.resources,
        this.deletions,
        this.cases,
        this.caseUpdates,
        this.forms,
        this.history,
        this.decisions,
        this.names,
      ].every((a) => a.length === 0)
    );
  }

  private json(): string {
    return JSON.stringify({
      message_id: this.messageId,
      sender: this.sender,
      at: this.at,
      person_updates: this.personUpdates,
      person_inserts: this.personInserts,
      resources: this.resources,
      deletions: this.deletions,
      cases: this.cases,
      case_updates: this.caseUpdates,
      forms: this.forms,
      history: this.history,
      decisions: this.decisions,
      message: this.message ?? {},
      refused: this.refused,
    });
  }

  /** The write as one statement with its values inline, to be sent with the commit (`PersonTx.atCommit`). */
  sql(literal: (value: string) => string): string {
    if (this.isEmpty()) return '';
    const names = this.names.length ? `; ${storeNamesSql(literal(JSON.stringify(this.names)))}` : '';
    return `SELECT kvalreg_capture_write(${literal(this.json())}::jsonb)${names}`;
  }

  /** Writes now (before work that must see these rows) and starts an empty set for what follows. */
  async flush(db: Queryable): Promise<void> {
    if (!this.isEmpty()) await prepared(db, 'cap-write', 'SELECT kvalreg_capture_write($1::jsonb)', [this.json()]);
    if (this.names.length) await db.query(storeNamesSql('$1'), [JSON.stringify(this.names)]);
    for (const k of [
      'personUpdates',
      'personInserts',
      'resources',
      'deletions',
      'cases',
      'caseUpdates',
      'forms',
      'history',
      'decisions',
      'names',
    ] as const)
      this[k] = [];
  }
}
