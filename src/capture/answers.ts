// The answer to a message: one response entry per request entry, in order (FHIR's
// transaction-response and batch-response), each with its status and the issues found about it.
// Every step of the pipeline reports here; a failed entry is counted once.
import type { Issue } from './outcome.ts';

export interface EntryResult {
  index: number;
  status: string; // FHIR entry.response.status
  issues: Issue[];
}

export const UNPROCESSABLE = '422 Unprocessable Entity';

export class EntryAnswers {
  private readonly entries = new Map<number, EntryResult>();
  /** Entries that failed (a batch: their patients' parts were skipped). */
  failed = 0;

  constructor(count: number) {
    for (let i = 0; i < count; i++) this.of(i);
  }

  /** The response entry of request entry `index`. */
  of(index: number): EntryResult {
    let e = this.entries.get(index);
    if (!e) {
      e = { index, status: '200 OK', issues: [] };
      this.entries.set(index, e);
    }
    return e;
  }

  note(index: number, ...issues: Issue[]): void {
    this.of(index).issues.push(...issues);
  }

  setStatus(index: number, status: string): void {
    this.of(index).status = status;
  }

  /** Marks the entry failed (422), with these issues; counted once however often it fails. */
  fail(index: number, ...issues: Issue[]): void {
    const e = this.of(index);
    e.issues.push(...issues);
    if (e.status === UNPROCESSABLE) return;
    e.status = UNPROCESSABLE;
    this.failed++;
  }

  list(): EntryResult[] {
    return [...this.entries.values()].sort((a, b) => a.index - b.index);
  }
}
