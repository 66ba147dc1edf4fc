// The disclosure table: counts (cells) and the sums a reader knows hold between them — a parent
// unit is the sum of its sub-units, a total the sum of its row, a year the sum of its quarters —
// and the rule that decides which cells are withheld.
//
// Primary suppression is the caller's: it marks the cells that may not be shown (a count under
// the threshold, a denominator under the indicator's minimum). Secondary suppression is this
// module's: in every relation, a withheld cell must not be the only unknown, or a reader gets it
// back by subtraction. Where it would be, a shown part of that relation is withheld too — the one
// whose withholding leaves the fewest other relations to protect, and of those the smallest ("the
// next smallest cell"; never a zero, which a reader can tell from a missing row) — and every
// relation that cell is in is checked again, until no
// relation has a single unknown: a fixed point, reached in a deterministic order (relations are
// checked in the order they were declared; ties go to the cell declared first), so the same data
// always give the same pattern and every output shows the same cells.
//
// Bounds are used as an attacker would: withheld counts are never negative, so withheld parts of a
// shown total that add up to 0 are all 0; and where zeros are always shown (every count layer but
// numerators, which are withheld with their denominator whatever their value), withheld parts that
// add up to their number are all 1. Both are treated like a single unknown. And what the withheld
// parts of a shown total add up to is known: under the threshold, it is itself a small count (the
// rest of the country beside a region), so more is withheld until it is not.
//
// Where a relation does not hold exactly — patients counted once above two units that both treated
// them, cases registered at a hospital rather than one of its departments — the difference is a
// cell of its own, never shown: it hides a withheld part as well as a withheld cell would, and if it
// is itself a small number (a count under the threshold), it is protected like one.

/** Why a cell is withheld: under the threshold, under an indicator's minimum denominator, or to protect another cell. */
export type Reason = 'small' | 'too-few' | 'linked';

const SHOWN = 0;
/** Withheld and protected: must never be the only unknown of a relation. */
const WITHHELD = 1;
/** Never shown but need not be protected (the difference in a relation that does not add up, when not small). */
const HIDDEN = 2;

export interface ProtectResult {
  secondary: number;
  unresolved: number;
}

export class DisclosureTable {
  private readonly index = new Map<string, number>();
  private readonly values: number[] = [];
  private readonly status: number[] = [];
  private readonly reasons: Array<Reason | null> = [];
  private readonly isResidual: boolean[] = [];
  private readonly totals: number[] = [];
  private readonly parts: number[][] = [];

  /**
   * @param threshold counts 1..threshold−1 are small.
   * @param zerosShown true where a withheld cell is never 0 (every zero is shown), false where one
   *   may be (a numerator withheld because its denominator is).
   */
  constructor(
    readonly threshold: number,
    private readonly zerosShown = true,
  ) {}

  /** Adds a cell (once: a second add of the same key keeps the first). */
  add(key: string, value: number): void {
    if (this.index.has(key)) return;
    this.index.set(key, this.values.length);
    this.push(value);
  }

  /** Adds a cell known by its position only (the next index); for callers that keep their own keys. */
  push(value: number): number {
    this.values.push(value);
    this.status.push(SHOWN);
    this.reasons.push(null);
    this.isResidual.push(false);
    return this.values.length - 1;
  }

  /** Primary suppression of the cell at position i. */
  withholdAt(i: number, reason: Reason): void {
    if (this.status[i] !== WITHHELD) {
      this.status[i] = WITHHELD;
      this.reasons[i] = reason;
    }
  }

  /** Why the cell at position i is withheld, or null when it may be shown. */
  reasonAt(i: number): Reason | null {
    return this.reasons[i];
  }

  has(key: string): boolean {
    return this.index.has(key);
  }
  value(key: string): number {
    const i = this.index.get(key);
    return i === undefined ? 0 : this.values[i];
  }
  get size(): number {
    return this.values.length;
  }

  /** Primary suppression: this cell is not shown. */
  withhold(key: string, reason: Reason): void {
    const i = this.index.get(key);
    if (i === undefined) throw new Error(`disclosure table: no cell ${key}`);
    if (this.status[i] !== WITHHELD) {
      this.status[i] = WITHHELD;
      this.reasons[i] = reason;
    }
  }

  /** Why the cell is withheld, or null when it may be shown (a cell not in the table is a shown 0). */
  reason(key: string): Reason | null {
    const i = this.index.get(key);
    return i === undefined ? null : this.reasons[i];
  }
  shown(key: string): boolean {
    return this.reason(key) === null;
  }

  /**
   * A relation: `total` is the sum of `parts`. Parts not in the table are 0 and known; a total not
   * in the table is added as 0. What the parts do not account for becomes a cell of its own.
   */
  relate(total: string, parts: Iterable<string>): void {
    if (!this.index.has(total)) this.add(total, 0);
    const idx: number[] = [];
    for (const key of parts) {
      const i = this.index.get(key);
      if (i !== undefined) idx.push(i);
    }
    this.relateAt(this.index.get(total)!, idx);
  }

  /** A relation between cells by position: `total` is the sum of `parts` (see relate). */
  relateAt(t: number, parts: number[]): void {
    const p: number[] = [];
    let sum = 0;
    for (const i of parts) {
      if (i === t || p.includes(i)) continue;
      p.push(i);
      sum += this.values[i];
    }
    const rest = this.values[t] - sum;
    if (rest !== 0) {
      const i = this.values.length;
      this.values.push(rest);
      const small = Math.abs(rest) < this.threshold;
      this.status.push(small ? WITHHELD : HIDDEN);
      this.reasons.push(small ? 'small' : 'linked');
      this.isResidual.push(true);
      p.push(i);
    }
    if (p.length === 0) return; // the total is 0 and so are its parts: nothing to protect
    this.totals.push(t);
    this.parts.push(p);
  }

  /** Secondary suppression to the fixed point; returns how many cells it withheld, and relations it could not protect. */
  protect(): ProtectResult {
    const n = this.values.length,
      m = this.totals.length;
    // Relations per cell (CSR), so that withholding a cell re-checks exactly the relations it is in.
    const degree = new Int32Array(n + 1);
    for (let r = 0; r < m; r++) {
      degree[this.totals[r] + 1]++;
      for (const c of this.parts[r]) degree[c + 1]++;
    }
    for (let i = 0; i < n; i++) degree[i + 1] += degree[i];
    const fill = degree.slice(0, n);
    const of = new Int32Array(degree[n]);
    for (let r = 0; r < m; r++) {
      of[fill[this.totals[r]]++] = r;
      for (const c of this.parts[r]) of[fill[c]++] = r;
    }

    const queue: number[] = [];
    const queued = new Uint8Array(m);
    for (let r = 0; r < m; r++) {
      queue.push(r);
      queued[r] = 1;
    }
    let secondary = 0,
      unresolved = 0;
    for (let head = 0; head < queue.length; head++) {
      const r = queue[head];
      queued[r] = 0;
      for (let why = this.unsafe(r); why !== null; why = this.unsafe(r)) {
        const c = this.partner(r, degree, of);
        if (c < 0) {
          unresolved++;
          break;
        }
        this.status[c] = WITHHELD;
        this.reasons[c] = 'linked';
        secondary++;
        for (let k = degree[c]; k < degree[c + 1]; k++) {
          const s = of[k];
          if (!queued[s] && s !== r) {
            queued[s] = 1;
            queue.push(s);
          }
        }
      }
    }
    return { secondary, unresolved };
  }

  /**
   * Whether relation r gives a withheld cell away, and how: a single unknown; withheld parts of a
   * shown total that add up to 0 (all 0), to their number where zeros are always shown (all 1), or
   * to less than the threshold (their sum is itself a small count: "the other three have 4").
   */
  private unsafe(r: number): 'single' | 'zeros' | 'ones' | 'small-sum' | null {
    const t = this.totals[r];
    let unknown = 0,
      protectedCells = 0,
      sum = 0,
      residualUnknown = false;
    const visit = (c: number) => {
      const s = this.status[c];
      if (s === SHOWN) return;
      unknown++;
      if (s === WITHHELD) protectedCells++;
      if (this.isResidual[c]) residualUnknown = true;
      if (c !== t) sum += this.values[c];
    };
    visit(t);
    for (const c of this.parts[r]) visit(c);
    if (protectedCells === 0) return null;
    if (unknown === 1) return 'single';
    // The bounds hold for parts of a shown total, where none of them is a difference (which may be negative).
    if (this.status[t] !== SHOWN || residualUnknown) return null;
    if (sum === 0) return 'zeros';
    if (this.zerosShown && sum === unknown) return 'ones';
    if (sum < this.threshold) return 'small-sum';
    return null;
  }

  /**
   * The cell to withhold next in relation r: among its shown positive parts, the one that leaves the
   * fewest other relations with a single unknown (each would need a partner of its own), then the
   * smallest; else its total. Never a zero: a reader takes a category a unit has no row for as 0,
   * so a withheld zero hides nothing (and it adds nothing to a sum that must not be small).
   */
  private partner(r: number, degree: Int32Array, of: Int32Array): number {
    let best = -1,
      bestCost = 0;
    for (const c of this.parts[r]) {
      if (this.status[c] !== SHOWN || this.isResidual[c]) continue;
      const v = this.values[c];
      if (v <= 0) continue;
      const cost = this.cascade(c, r, degree, of);
      if (best < 0 || cost < bestCost || (cost === bestCost && v < this.values[best])) {
        best = c;
        bestCost = cost;
      }
    }
    if (best >= 0) return best;
    const t = this.totals[r];
    return this.status[t] === SHOWN ? t : -1;
  }

  /** How many relations other than r would have cell c as their only unknown if it were withheld. */
  private cascade(c: number, r: number, degree: Int32Array, of: Int32Array): number {
    let n = 0;
    for (let k = degree[c]; k < degree[c + 1]; k++) {
      const s = of[k];
      if (s === r) continue;
      let unknown = this.status[this.totals[s]] !== SHOWN ? 1 : 0;
      for (const p of this.parts[s]) if (this.status[p] !== SHOWN) unknown++;
      if (unknown === 0) n++;
    }
    return n;
  }
}
