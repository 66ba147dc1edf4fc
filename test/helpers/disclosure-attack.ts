// An attacker for the disclosure test: what a crawler of every public page and download knows,
// and what it can work out from it. It collects every published count under a key (table, unit,
// period, cell), keeps the true counts beside them (read from the database, so the test can tell a
// right derivation from a guess), and solves the linear relations a reader knows — a parent unit
// is the sum of its children, a total the sum of its row or column, a year the sum of its quarters
// — one unknown at a time, repeating until nothing more follows. Where a relation does not hold
// exactly (patients counted once above two units that both treated them), the difference is taken
// as known: an attacker may know or guess it, and a protection that relied on it would be luck.
//
// This is written independently of src/disclosure: it states the relations from the tables'
// meaning, not from the module's code, so that a relation the module forgets is found here.

export interface Term {
  key: string;
  coef: number;
}
export interface Relation {
  terms: Term[];
  why: string;
}

export class Knowledge {
  /** Published counts by key. */
  readonly published = new Map<string, number>();
  /** Keys some output showed as withheld (null, "for få", "–"). */
  readonly withheld = new Set<string>();
  /** The same count published with two different values (a bug, or two meanings under one key). */
  readonly conflicts: string[] = [];
  /** Where each published key was seen first (for messages). */
  private readonly source = new Map<string, string>();

  publish(key: string, value: number | null | undefined, where: string): void {
    if (value === null || value === undefined) {
      this.withheld.add(key);
      return;
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.conflicts.push(`${key}: "${String(value)}" is not a count (${where})`);
      return;
    }
    const before = this.published.get(key);
    if (before !== undefined && before !== value)
      this.conflicts.push(`${key}: ${before} (${this.source.get(key)}) and ${value} (${where})`);
    if (before === undefined) {
      this.published.set(key, value);
      this.source.set(key, where);
    }
  }

  whereSeen(key: string): string | undefined {
    return this.source.get(key);
  }
}

export interface AttackResult {
  /**
   * Counts the attacker worked out exactly that were not published, with how; `withheld` if an
   * output withheld them. Keys starting with Δ are the differences of relations that do not add up.
   */
  derived: Array<{ key: string; value: number; how: string; withheld: boolean; terms: string[] }>;
  /** Published counts in 1..threshold−1. */
  small: Array<{ key: string; value: number; where: string }>;
  /** Published counts that are not the true count under their key. */
  mismatched: Array<{ key: string; published: number; truth: number; where: string }>;
  relations: number;
  unknownAtStart: number;
}

/**
 * Solves the relations. `truth` holds the true value of every count that exists (absent = 0); a
 * key the attacker has not seen published starts unknown. Withheld cells are never negative; for
 * keys `positive` says are never a withheld zero (a table that shows every zero), a relation whose
 * unknowns add up to exactly their number gives each of them 1.
 */
export function attack(
  k: Knowledge,
  truth: Map<string, number>,
  relations: Relation[],
  opts: { threshold: number; isCount: (key: string) => boolean; positive: (key: string) => boolean },
): AttackResult {
  const value = (key: string) => truth.get(key) ?? 0;
  // A published count that differs from the truth under its key means the test gave two things one
  // key; it is reported and left out, so that the arithmetic below stays exact.
  const mismatched: AttackResult['mismatched'] = [];
  const known = new Map<string, number>();
  for (const [key, v] of k.published) {
    if (v === value(key)) known.set(key, v);
    else mismatched.push({ key, published: v, truth: value(key), where: k.whereSeen(key) ?? '' });
  }
  // A count that does not exist is 0 and shown as such (or as "not computable"): known.
  const unknown = (key: string) => !known.has(key) && truth.has(key);
  const derived: AttackResult['derived'] = [];
  let unknownAtStart = 0;
  // Where a relation does not add up exactly (cases registered at a hospital rather than one of its
  // departments, a patient counted once above two units), the difference is an unknown of its own:
  // never published, but worked out like any other when it is the last unknown.
  const prepared = relations.map((r, i) => {
    const residual = r.terms.reduce((s, t) => s + t.coef * value(t.key), 0);
    if (residual === 0) return { ...r, residual: 0 };
    const key = `Δ${i}|${r.why}`;
    truth.set(key, residual);
    return { ...r, terms: [...r.terms, { key, coef: -1 }], residual: 0 };
  });
  for (const key of truth.keys()) if (!known.has(key)) unknownAtStart++;
  const byKey = new Map<string, number[]>();
  prepared.forEach((r, i) => {
    for (const t of r.terms) byKey.set(t.key, [...(byKey.get(t.key) ?? []), i]);
  });
  const queue = prepared.map((_, i) => i);
  const queued = new Set(queue);
  const learn = (key: string, v: number, how: string, r: Relation) => {
    known.set(key, v);
    // The relation as the attacker used it: each term with its coefficient and what was known of it.
    const terms = r.terms.map(
      (t) =>
        `${t.coef > 0 ? '+' : '−'}${t.key}=${known.has(t.key) ? known.get(t.key) : '?'}${k.published.has(t.key) ? '' : k.withheld.has(t.key) ? ' (withheld)' : ' (unpublished)'}`,
    );
    derived.push({ key, value: v, how, withheld: k.withheld.has(key), terms });
    for (const j of byKey.get(key) ?? [])
      if (!queued.has(j)) {
        queued.add(j);
        queue.push(j);
      }
  };
  while (queue.length) {
    const i = queue.shift()!;
    queued.delete(i);
    const r = prepared[i];
    const open = r.terms.filter((t) => unknown(t.key));
    if (open.length === 0) continue;
    const rest = r.residual - r.terms.filter((t) => !unknown(t.key)).reduce((s, t) => s + t.coef * (known.get(t.key) ?? value(t.key)), 0);
    if (open.length === 1) {
      const v = rest / open[0].coef;
      if (v !== value(open[0].key))
        throw new Error(`attacker arithmetic is wrong for ${open[0].key}: ${v} ≠ ${value(open[0].key)} (${r.why})`);
      learn(open[0].key, v, r.why, r);
      continue;
    }
    // Bounds: every unknown is ≥ 0 (or ≥ 1 where zeros are never withheld). When all unknowns have
    // the same sign, their sum is known; if it is the least it can be, each is at its least.
    const sign = Math.sign(open[0].coef);
    if (!open.every((t) => Math.abs(t.coef) === 1 && Math.sign(t.coef) === sign && !t.key.startsWith('Δ'))) continue;
    const sum = rest * sign;
    const least = open.every((t) => opts.positive(t.key)) ? open.length : 0;
    // Only a right conclusion counts (a withheld zero where zeros are assumed shown is a wrong guess).
    if (sum === least && open.every((t) => value(t.key) === (least === 0 ? 0 : 1))) {
      for (const t of open) learn(t.key, least === 0 ? 0 : 1, `${r.why} (the unknowns add up to their least possible sum)`, r);
    }
  }
  const small: AttackResult['small'] = [];
  for (const [key, v] of k.published)
    if (opts.isCount(key) && v >= 1 && v < opts.threshold) small.push({ key, value: v, where: k.whereSeen(key) ?? '' });
  return { derived, small, mismatched, relations: relations.length, unknownAtStart };
}

/** total = Σ parts, as a relation. */
export function sumRelation(total: string, parts: string[], why: string): Relation {
  return { terms: [{ key: total, coef: -1 }, ...parts.map((p) => ({ key: p, coef: 1 }))], why };
}
