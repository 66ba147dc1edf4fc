// The organisation hierarchy in memory: nation → region → trust → hospital → department.
export interface Unit {
  resh: string;
  parent: string | null;
  level: 'nation' | 'region' | 'trust' | 'hospital' | 'department';
  kind: string | null;
  short: string | null;
  nameNb: string;
  nameEn: string | null;
  path: string[];
  /** Organisation number (Enhetsregisteret), where known. */
  orgnr?: string | null;
}

export class UnitTree {
  private readonly byResh = new Map<string, Unit>();
  private readonly children = new Map<string, string[]>();

  constructor(units: Unit[]) {
    this.reset(units);
  }

  /** Replaces the contents in place, so every holder of the tree sees the new hierarchy. */
  reset(units: Unit[]): void {
    this.byResh.clear();
    this.children.clear();
    for (const u of units) {
      this.byResh.set(u.resh, u);
      if (u.parent) this.children.set(u.parent, [...(this.children.get(u.parent) ?? []), u.resh]);
    }
  }
  get(resh: string): Unit | undefined {
    return this.byResh.get(resh);
  }
  has(resh: string): boolean {
    return this.byResh.has(resh);
  }
  all(): Unit[] {
    return [...this.byResh.values()];
  }
  /** The unit and everything below it. */
  descendants(resh: string): string[] {
    const out: string[] = [];
    const stack = [resh];
    while (stack.length) {
      const r = stack.pop()!;
      if (!this.byResh.has(r)) continue;
      out.push(r);
      stack.push(...(this.children.get(r) ?? []));
    }
    return out;
  }
  /** The unit's ancestor at `level` (e.g. the hospital of a department). */
  ancestorAt(resh: string, level: Unit['level']): Unit | undefined {
    const u = this.byResh.get(resh);
    return u?.path.map((r) => this.byResh.get(r)!).find((a) => a?.level === level);
  }
}
