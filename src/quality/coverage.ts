// Coverage against the national patient register: the registry's cases linked with its NPR
// episodes by person, hospital and a date window, per hospital and year, added up to trust,
// region and nation. Linkage is decided per hospital: a case at one hospital never links with an
// episode at another (the national coverage service links per hospital and health trust); the
// levels above are sums of their hospitals.
//
//   coverage = (only in registry + in both) / (only in NPR + only in registry + in both)
//
// "In both" counts NPR events (the counted episodes) that have a case; the two directions are the
// share of NPR events found in the registry (registry vs NPR) and the share of the registry's
// cases found in NPR (NPR vs registry). Episodes of patients who opted out are counted, without
// identity, as only in NPR, as the national service (which cannot see reservations) counts them;
// the coverage without them is given beside it.
import type { PersonTx } from '../access/door.ts';
import { analyticsTable } from '../analytics/columns.ts';
import { decryptNin, type IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { dateOf, yearOf } from './checks.ts';
import type { NprSelectionDef } from './npr-schema.ts';
import type { VariableType } from '../registry/schema.ts';

export interface CoverageCounts {
  bothNpr: number;
  bothRegistry: number;
  onlyNpr: number;
  onlyRegistry: number;
  reserved: number;
}
export interface CoverageRow extends CoverageCounts {
  unit: string;
  year: number;
  /** The national formula, reserved patients' episodes counted as only in NPR; null with nothing to compare. */
  coverage: number | null;
  coverageExcludingReserved: number | null;
  /** Share of NPR events found in the registry, and of the registry's cases found in NPR. */
  registryVsNpr: number | null;
  nprVsRegistry: number | null;
}

export function coverageOf(
  c: CoverageCounts,
): Pick<CoverageRow, 'coverage' | 'coverageExcludingReserved' | 'registryVsNpr' | 'nprVsRegistry'> {
  const all = c.onlyNpr + c.reserved + c.onlyRegistry + c.bothNpr;
  const known = c.onlyNpr + c.onlyRegistry + c.bothNpr;
  const npr = c.bothNpr + c.onlyNpr + c.reserved;
  const reg = c.bothRegistry + c.onlyRegistry;
  return {
    coverage: all ? (c.onlyRegistry + c.bothNpr) / all : null,
    coverageExcludingReserved: known ? (c.onlyRegistry + c.bothNpr) / known : null,
    registryVsNpr: npr ? c.bothNpr / npr : null,
    nprVsRegistry: reg ? c.bothRegistry / reg : null,
  };
}

/** The registry's cases, each with its person, hospital and date: the registry side of the linkage. */
function caseSide(registry: Registry, def: NprSelectionDef, columns: Map<string, VariableType>): string {
  const d = dateOf(def.linkage.caseDate, columns.get(def.linkage.caseDate));
  return `SELECT a.case_id, a.person_id, m.hospital, ${d} AS d FROM ${analyticsTable(registry)} a JOIN map m ON m.unit = a.unit_resh WHERE ${d} IS NOT NULL`;
}

/** The link condition between a case `c` and an episode `e` (parameters $3, $4: days before and after). */
const LINK = `c.person_id = e.person_id AND c.hospital = e.hospital AND c.d BETWEEN e.chain_start - $3::int AND e.discharge_date + $4::int`;

/**
 * The statement's common part: unit → hospital, the counted episodes (each with the person its
 * number names, stored at import and kept current by trigger: migration 126), the extracts' years.
 */
function common(registry: Registry): string {
  return `WITH map AS (SELECT * FROM unnest($1::text[], $2::text[]) AS m(unit, hospital)),
    e AS NOT MATERIALIZED (SELECT x.id, x.person_id, x.hospital_resh AS hospital, x.chain_start, x.discharge_date, x.year
          FROM npr_episode x WHERE x.registry = ${escapeId(registry.id)} AND x.duplicate_of IS NULL),
    yrs AS (SELECT DISTINCT unnest(years) AS year FROM npr_extract WHERE registry = ${escapeId(registry.id)})`;
}
const escapeId = (id: string) => {
  if (!/^[a-z][a-z0-9_]*$/.test(id)) throw new Error(`bad registry id ${id}`);
  return `'${id}'`;
};

/** Unit → hospital for every unit at or under a hospital (departments to their hospital). */
export function hospitalMap(units: UnitTree): { units: string[]; hospitals: string[] } {
  const u: string[] = [],
    h: string[] = [];
  for (const x of units.all()) {
    const hospital = x.level === 'hospital' ? x.resh : x.level === 'department' ? units.ancestorAt(x.resh, 'hospital')?.resh : undefined;
    if (hospital) {
      u.push(x.resh);
      h.push(hospital);
    }
  }
  return { units: u, hospitals: h };
}

/**
 * The linkage statement: per hospital and year, NPR events with and without a case, and cases with
 * and without an episode. One full join of the two sides on person and hospital, with the date
 * window as its join filter (a hash join: linear in the two tables), finds what links to nothing
 * on either side: an event or a case that links to nothing comes out of it exactly once (one that
 * links may come out several times, so the join cannot count it). Each side's plain count per
 * hospital and year (the cases counted per unit and year, then added up to hospitals) gives the
 * part that links, by difference; the extracts' years are picked from the counts. A correlated
 * EXISTS per row was quadratic; the list of links made distinct, or a hash semi-join per side
 * beside a count per side, and resolving each episode's number to a person here (now stored on the
 * episode), cost up to twice this (docs/performance.md).
 */
export function linkageSql(registry: Registry, def: NprSelectionDef, columns: Map<string, VariableType>): string {
  const d = dateOf(def.linkage.caseDate, columns.get(def.linkage.caseDate));
  return `${common(registry)},
    c AS NOT MATERIALIZED (${caseSide(registry, def, columns)}),
    npr_all AS (SELECT hospital, year, count(*)::int AS n FROM e GROUP BY 1, 2),
    reg_all AS (SELECT m.hospital, r.year, sum(r.n)::int AS n
                FROM (SELECT a.unit_resh, ${yearOf(d)} AS year, count(*)::int AS n FROM ${analyticsTable(registry)} a WHERE ${d} IS NOT NULL GROUP BY 1, 2) r
                JOIN map m ON m.unit = r.unit_resh GROUP BY 1, 2),
    unlinked AS (SELECT coalesce(e.hospital, c.hospital) AS hospital, coalesce(e.year, ${yearOf('c.d')}) AS year,
                   count(e.id)::int AS only_npr, count(c.case_id)::int AS only_registry
                 FROM e FULL JOIN c ON ${LINK}
                 WHERE c.case_id IS NULL OR e.id IS NULL
                 GROUP BY 1, 2),
    npr_side AS (SELECT a.hospital, a.year, a.n - coalesce(u.only_npr, 0) AS both_npr, coalesce(u.only_npr, 0) AS only_npr
                 FROM npr_all a LEFT JOIN unlinked u ON u.hospital = a.hospital AND u.year = a.year WHERE a.year IN (SELECT year FROM yrs)),
    reg_side AS (SELECT a.hospital, a.year, a.n - coalesce(u.only_registry, 0) AS both_registry, coalesce(u.only_registry, 0) AS only_registry
                 FROM reg_all a LEFT JOIN unlinked u ON u.hospital = a.hospital AND u.year = a.year WHERE a.year IN (SELECT year FROM yrs)),
    res AS (SELECT hospital_resh AS hospital, year, episodes FROM npr_reserved WHERE registry = ${escapeId(registry.id)})
    SELECT coalesce(n.hospital, r.hospital, s.hospital) AS hospital, coalesce(n.year, r.year, s.year) AS year,
           coalesce(n.both_npr, 0) AS both_npr, coalesce(n.only_npr, 0) AS only_npr, coalesce(r.both_registry, 0) AS both_registry,
           coalesce(r.only_registry, 0) AS only_registry, coalesce(s.episodes, 0) AS reserved
    FROM npr_side n FULL JOIN reg_side r ON r.hospital = n.hospital AND r.year = n.year
    FULL JOIN res s ON s.hospital = coalesce(n.hospital, r.hospital) AND s.year = coalesce(n.year, r.year)`;
}

/** The linkage statement's planner setting, for its transaction only. */
export const LINKAGE_SETTINGS = 'SET LOCAL enable_sort = off';

/** Links, adds up every level and stores the result (npr_coverage, and the published `coverage` table). */
export async function computeCoverage(
  tx: PersonTx,
  registry: Registry,
  def: NprSelectionDef,
  columns: Map<string, VariableType>,
): Promise<CoverageRow[]> {
  const map = hospitalMap(tx.units);
  // What links to nothing (a fifth of a million rows at national size) is counted by hashing, not
  // sorted: the planner, estimating the full join's unlinked rows at one, sorted them, a tenth of
  // the statement at 1,000,000 cases and episodes (docs/performance.md).
  await tx.client.query(LINKAGE_SETTINGS);
  const { rows } = await tx.client.query(linkageSql(registry, def, columns), [
    map.units,
    map.hospitals,
    def.linkage.daysBefore,
    def.linkage.daysAfter,
  ]);
  await tx.client.query('SET LOCAL enable_sort TO DEFAULT');
  const sums = new Map<string, CoverageCounts & { unit: string; year: number }>();
  for (const r of rows) {
    const path = tx.units.get(r.hospital)?.path ?? [r.hospital];
    for (const unit of path) {
      const k = `${unit}|${r.year}`;
      const s = sums.get(k) ?? { unit, year: Number(r.year), bothNpr: 0, bothRegistry: 0, onlyNpr: 0, onlyRegistry: 0, reserved: 0 };
      s.bothNpr += r.both_npr;
      s.bothRegistry += r.both_registry;
      s.onlyNpr += r.only_npr;
      s.onlyRegistry += r.only_registry;
      s.reserved += r.reserved;
      sums.set(k, s);
    }
  }
  const out: CoverageRow[] = [...sums.values()]
    .map((s) => ({ ...s, ...coverageOf(s) }))
    .sort((a, b) => a.year - b.year || a.unit.localeCompare(b.unit));
  await tx.client.query('DELETE FROM npr_coverage WHERE registry = $1', [registry.id]);
  if (out.length) {
    await tx.client.query(
      `INSERT INTO npr_coverage (registry, unit_resh, year, both_npr, both_registry, only_npr, only_registry, reserved)
      SELECT $1, * FROM unnest($2::text[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[], $8::int[])`,
      [
        registry.id,
        out.map((r) => r.unit),
        out.map((r) => r.year),
        out.map((r) => r.bothNpr),
        out.map((r) => r.bothRegistry),
        out.map((r) => r.onlyNpr),
        out.map((r) => r.onlyRegistry),
        out.map((r) => r.reserved),
      ],
    );
    // The published coverage (read beside every indicator result, the hospital profile, reports).
    const published = out.filter((r) => r.coverage !== null);
    await tx.client.query(
      `INSERT INTO coverage (registry, unit_resh, year, coverage, source)
      SELECT $1, u, y, c, 'npr-linkage' FROM unnest($2::text[], $3::int[], $4::numeric[]) AS t(u, y, c)
      ON CONFLICT (registry, unit_resh, year) DO UPDATE SET coverage = EXCLUDED.coverage, source = EXCLUDED.source, loaded_at = now()`,
      [registry.id, published.map((r) => r.unit), published.map((r) => r.year), published.map((r) => r.coverage)],
    );
  }
  return out;
}

export async function storedCoverage(db: { query: PersonTx['client']['query'] }, registry: string): Promise<CoverageRow[]> {
  const { rows } = await db.query(
    'SELECT unit_resh, year, both_npr, both_registry, only_npr, only_registry, reserved FROM npr_coverage WHERE registry = $1 ORDER BY year, unit_resh',
    [registry],
  );
  return rows.map((r: any) => {
    const c = {
      bothNpr: r.both_npr,
      bothRegistry: r.both_registry,
      onlyNpr: r.only_npr,
      onlyRegistry: r.only_registry,
      reserved: r.reserved,
    };
    return { unit: r.unit_resh, year: r.year, ...c, ...coverageOf(c) };
  });
}

export interface OnlyInNpr {
  episodeId: string;
  nationalId: string;
  hospital: string;
  admissionDate: string;
  dischargeDate: string;
  contactType: string;
  icd10: string[];
  ncsp: string[];
}

/**
 * Step one of the "only in NPR" worklist, as the platform (linkage must see every case of the
 * hospital, whichever department holds it): the ids of the hospitals' counted episodes in the year
 * that no case links with, `limit` after the episode id `after`.
 */
export async function unlinkedEpisodes(
  tx: PersonTx,
  registry: Registry,
  def: NprSelectionDef,
  columns: Map<string, VariableType>,
  q: { hospitals: string[]; year: number; after: number; limit: number },
): Promise<{ ids: number[]; next: number | null }> {
  const map = hospitalMap(tx.units);
  const { rows } = await tx.client.query(
    `${common(registry)},
      c AS (${caseSide(registry, def, columns)} AND m.hospital = ANY($5::text[]))
    SELECT e.id FROM e
    WHERE e.hospital = ANY($5::text[]) AND e.year = $6 AND e.id > $7 AND NOT EXISTS (SELECT 1 FROM c WHERE ${LINK})
    ORDER BY e.id LIMIT $8`,
    [map.units, map.hospitals, def.linkage.daysBefore, def.linkage.daysAfter, q.hospitals, q.year, q.after, q.limit + 1],
  );
  const ids = rows.map((r) => Number(r.id));
  return { ids: ids.slice(0, q.limit), next: ids.length > q.limit ? ids[q.limit - 1] : null };
}

/** Step two, as the caller (row-level security on the episodes): the episodes with their identity numbers, and the persons known to the platform, for the audit trail. */
export async function readEpisodes(
  tx: PersonTx,
  registry: Registry,
  ids: number[],
  keys: IdentityKeys,
): Promise<{ episodes: OnlyInNpr[]; personIds: number[] }> {
  if (ids.length === 0) return { episodes: [], personIds: [] };
  const { rows } = await tx.client.query(
    `SELECT x.id, x.episode_id, x.nin_enc, x.hospital_resh, x.admission_date::text AS admission_date, x.discharge_date::text AS discharge_date,
      x.contact_type, x.icd10, x.ncsp, kvalreg_person_id_by_hash(x.nin_hash) AS person_id
    FROM npr_episode x WHERE x.registry = $1 AND x.id = ANY($2::bigint[]) ORDER BY x.id`,
    [registry.id, ids],
  );
  return {
    episodes: rows.map((r) => ({
      episodeId: r.episode_id,
      nationalId: decryptNin(keys, r.nin_enc),
      hospital: r.hospital_resh,
      admissionDate: r.admission_date,
      dischargeDate: r.discharge_date,
      contactType: r.contact_type,
      icd10: r.icd10,
      ncsp: r.ncsp,
    })),
    personIds: rows
      .map((r) => r.person_id)
      .filter((x) => x !== null)
      .map(Number),
  };
}
