// Key figures: a registry's cases per year of its case date (registry.yaml `caseDate`, e.g. the
// date of injury; without one, the registration), for every unit and the nation, and all
// years together (the analytics status's row count). Counted for every unit at once, so that
// disclosure control decides them together (src/disclosure/counts.ts): a year's count under the
// threshold is withheld, and so is whatever would give it away — its parent unit minus its shown
// siblings, or all years minus the other years. Kept until the analytics data change.
import type { PersonData } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { caseDateSql } from '../analytics/case-date.ts';
import type { Queryable } from '../db/pool.ts';
import { CountDisclosure, MARGIN } from '../disclosure/counts.ts';
import type { Reason } from '../disclosure/table.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { analyticsVersion } from '../analytics/version.ts';

const PLATFORM = { kind: 'platform', task: 'key-figures' } as const;
const TABLE = 'cases-per-year';

export interface KeyFigure {
  n: number;
  withheld: Reason | null;
}

export class KeyFigureTable {
  constructor(
    private readonly d: CountDisclosure,
    readonly years: number[],
    private readonly nation: string,
  ) {}
  /** A unit's cases in a year of the case date (a unit without cases: a shown 0). */
  at(unit: string, year: number): KeyFigure {
    return { n: this.d.count(TABLE, unit, String(year), ''), withheld: this.d.withheld(TABLE, unit, String(year), '') };
  }
  /** Every case of the registry, all years. */
  all(): KeyFigure {
    return { n: this.d.count(TABLE, this.nation, MARGIN, MARGIN), withheld: this.d.withheld(TABLE, this.nation, MARGIN, MARGIN) };
  }
}

export class KeyFigures {
  private readonly cache = new Map<string, { version: number; table: Promise<KeyFigureTable> }>();

  constructor(
    private readonly data: PersonData,
    private readonly pool: Queryable,
    private readonly units: UnitTree,
  ) {}

  async get(registry: Registry): Promise<KeyFigureTable> {
    const version = await analyticsVersion(this.pool, registry.id);
    const hit = this.cache.get(registry.id);
    if (hit && hit.version === version) return hit.table;
    const table = this.compute(registry);
    this.cache.set(registry.id, { version, table });
    table.catch(() => {
      if (this.cache.get(registry.id)?.table === table) this.cache.delete(registry.id);
    });
    return table;
  }

  private async compute(registry: Registry): Promise<KeyFigureTable> {
    const nation = this.units.all().find((u) => u.level === 'nation')!.resh;
    const rows = await this.data.transaction(
      PLATFORM,
      'analytics:key-figures',
      async (tx) =>
        (
          await tx.client.query(
            `SELECT extract(year FROM ${caseDateSql(registry, 't')})::int AS year, u AS unit, count(*)::int AS n
       FROM ${analyticsTable(registry)} t CROSS JOIN LATERAL unnest(CASE WHEN cardinality(t.unit_path) = 0 THEN ARRAY[$1::text] ELSE t.unit_path END) u
       GROUP BY 1, 2`,
            [nation],
          )
        ).rows as Array<{ year: number | null; unit: string; n: number }>,
      { readOnly: true },
    );
    // A case without a case date counts in all years only.
    const d = new CountDisclosure(
      [
        {
          id: TABLE,
          base: TABLE,
          axes: ['year'],
          counts: rows.map((r) => ({ unit: r.unit, x: r.year === null ? 'unknown' : String(r.year), g: '', n: r.n })),
          missing: [],
        },
      ],
      this.units,
      registry.meta.smallCountThreshold,
      new Map(),
    );
    d.protect();
    return new KeyFigureTable(d, [...new Set(rows.filter((r) => r.year !== null).map((r) => r.year!))].sort(), nation);
  }
}

const perPlatform = new WeakMap<object, KeyFigures>();
/** The key figures of a running platform (one cache per platform). */
export function keyFiguresOf(platform: { data: PersonData; db: { pool: Queryable }; units: UnitTree }): KeyFigures {
  let k = perPlatform.get(platform);
  if (!k) perPlatform.set(platform, (k = new KeyFigures(platform.data, platform.db.pool, platform.units)));
  return k;
}
