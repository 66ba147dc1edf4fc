// Benchmark seeding only: multiplies the cases captured through the pipeline into a registry of
// national size, with set-based SQL (INSERT … SELECT per copy), because capturing a million
// fractures through the pipeline would take hours on this machine.
//
// Each copy k of a base case gets fresh keys (person, case id, anchor key, the identity number's
// keyed hash), moves to the k-th next department of the same kind (the case's unit and the form's
// unit variable, so every unit gets realistic volume) and, so that the years hold a national
// volume (~95,000 fractures a year) instead of piling into the base sample's years, every date in
// the person and the forms moves back by a whole number of the base sample's spans, and the case's
// times of registration and change with them (a copy is registered as long after its injury as
// its original). Everything the
// analytics refresh reads is copied: the person (birth date, sex, date of death), the case, its
// forms with their status. Captured resources, raw messages, routing decisions and value history
// are not copied: neither the analytics nor the routes measured read them.
//
// Runs as the owner, bypassing row-level security (the tables are person-level): this is how the
// bench reaches its data volume fast, not what it measures. The copies are written like any other
// write, so the tables' triggers log every copied case for the analytics refresher, which then
// recomputes each row with the platform's own evaluation. The copied identity numbers stay
// encrypted copies of the base person's (nothing here decrypts them).
import type { Platform } from '../src/platform.ts';
import type { Registry } from '../src/registry/load.ts';

/** Fractures a year in the whole country (docs/performance.md). */
const NATIONAL_PER_YEAR = 95_000;

export interface Multiplied {
  cases: number;
  copies: number;
  yearGroups: number;
}

export async function multiplyCases(
  platform: Platform,
  registry: Registry,
  o: { target: number; yearsPerCopy: number; log: (m: string) => void },
): Promise<Multiplied> {
  const db = await platform.db.pool.connect();
  try {
    // Seeding only: a crash would lose the bench's throwaway database anyway.
    await db.query('SET synchronous_commit = off');
    await db.query(
      `CREATE TEMP TABLE bench_case AS
      SELECT id, person_id, unit_resh, (row_number() OVER (ORDER BY id) - 1)::int AS rn FROM registry_case WHERE registry = $1`,
      [registry.id],
    );
    await db.query('CREATE INDEX ON bench_case (rn)');
    const base = Number((await db.query('SELECT count(*) FROM bench_case')).rows[0].count);
    const extra = o.target - base;
    if (base === 0 || extra <= 0) return { cases: base, copies: 0, yearGroups: 1 };
    const copies = Math.ceil(extra / base);
    // Copies spread over as many spans of the base sample's years as a national volume needs.
    const yearGroups = Math.max(1, Math.ceil(o.target / (NATIONAL_PER_YEAR * o.yearsPerCopy)));
    const {
      rows: [m],
    } = await db.query('SELECT (SELECT max(id) FROM registry_case) AS c, (SELECT max(id) FROM person) AS p');
    const caseStride = Number(m.c) + 1,
      personStride = Number(m.p) + 1;

    // Department rotation within each kind (orthopaedic, emergency clinic, …).
    const departments = platform.units.all().filter((u) => u.level === 'department');
    const byKind = new Map<string, string[]>();
    for (const u of departments) byKind.set(u.kind ?? '', [...(byKind.get(u.kind ?? '') ?? []), u.resh]);
    const used = (await db.query('SELECT DISTINCT unit_resh FROM bench_case WHERE unit_resh IS NOT NULL')).rows.map(
      (r) => r.unit_resh as string,
    );
    const map: Array<[number, string, string]> = [];
    for (let k = 1; k <= copies; k++) {
      for (const from of used) {
        const kind = platform.units.get(from)?.kind ?? '';
        const peers = byKind.get(kind) ?? [from];
        const i = peers.indexOf(from);
        map.push([k, from, i < 0 ? from : peers[(i + k) % peers.length]]);
      }
    }
    await db.query(
      `CREATE TEMP TABLE bench_unit_map AS SELECT * FROM unnest($1::int[], $2::text[], $3::text[]) AS m(k, from_resh, to_resh)`,
      [map.map((x) => x[0]), map.map((x) => x[1]), map.map((x) => x[2])],
    );
    await db.query('CREATE INDEX ON bench_unit_map (k, from_resh)');
    // A date or date-time string moved back by whole years, in the same format (29 February → 28th).
    await db.query(`CREATE FUNCTION pg_temp.bench_shift(s text, y int) RETURNS text LANGUAGE sql IMMUTABLE AS $$
      SELECT lpad((substr(s, 1, 4)::int - y)::text, 4, '0') ||
        CASE WHEN substr(s, 5, 6) = '-02-29' AND NOT ((substr(s, 1, 4)::int - y) % 4 = 0 AND ((substr(s, 1, 4)::int - y) % 100 <> 0 OR (substr(s, 1, 4)::int - y) % 400 = 0))
             THEN '-02-28' || substr(s, 11) ELSE substr(s, 5) END $$`);

    const unitVariable = registry.mapping.unitVariable;
    let done = base;
    const started = Date.now();
    for (let k = 1; k <= copies; k++) {
      const n = Math.min(base, o.target - done);
      const years = o.yearsPerCopy * (k % yearGroups);
      const p = { k, n, years, caseStride, personStride };
      await db.query('BEGIN');
      await db.query(
        `INSERT INTO person (id, nin_hash, nin_enc, nin_kind, birth_date, sex, deceased_date, created_at, updated_at)
        SELECT p.id + $1::int::bigint * $4, sha256(p.nin_hash || int4send($1::int)), p.nin_enc, p.nin_kind,
               (p.birth_date - make_interval(years => $3))::date, p.sex, (p.deceased_date - make_interval(years => $3))::date, p.created_at, p.updated_at
        FROM person p WHERE p.id IN (SELECT person_id FROM bench_case WHERE rn < $2)`,
        [p.k, p.n, p.years, p.personStride],
      );
      await db.query(
        `INSERT INTO registry_case (registry, id, person_id, anchor_key, unit_resh, registry_version, created_at, updated_at)
        SELECT c.registry, c.id + $1::int::bigint * $3, c.person_id + $1::int::bigint * $4, c.anchor_key || '#copy' || $1::int, coalesce(m.to_resh, c.unit_resh), c.registry_version,
               c.created_at - make_interval(years => $6), c.updated_at - make_interval(years => $6)
        FROM bench_case b JOIN registry_case c ON c.registry = $5 AND c.id = b.id
        LEFT JOIN bench_unit_map m ON m.k = $1::int AND m.from_resh = c.unit_resh
        WHERE b.rn < $2`,
        [p.k, p.n, p.caseStride, p.personStride, registry.id, p.years],
      );
      await db.query(
        `INSERT INTO case_form (registry, case_id, form, instance, status, data, provenance, missing, findings, version, updated_at)
        SELECT f.registry, f.case_id + $1::int::bigint * $4, f.form, f.instance, f.status,
          (SELECT coalesce(jsonb_object_agg(e.key, CASE
              WHEN e.key = $5 AND m.to_resh IS NOT NULL THEN to_jsonb(m.to_resh)
              WHEN $3 <> 0 AND jsonb_typeof(e.value) = 'string' AND e.value #>> '{}' ~ '^\\d{4}-\\d{2}-\\d{2}' THEN to_jsonb(pg_temp.bench_shift(e.value #>> '{}', $3))
              ELSE e.value END), '{}'::jsonb) FROM jsonb_each(f.data) e),
          f.provenance, f.missing, f.findings, f.version, f.updated_at - make_interval(years => $3)
        FROM bench_case b JOIN case_form f ON f.registry = $6 AND f.case_id = b.id
        LEFT JOIN bench_unit_map m ON m.k = $1::int AND m.from_resh = b.unit_resh
        WHERE b.rn < $2`,
        [p.k, p.n, p.years, p.caseStride, unitVariable, registry.id],
      );
      await db.query('COMMIT');
      done += n;
      if (k % 10 === 0 || k === copies)
        o.log(
          `copy ${k}/${copies}: ${done.toLocaleString('en')} cases (${Math.round((done - base) / ((Date.now() - started) / 1000)).toLocaleString('en')} cases/s)`,
        );
    }
    await db.query(`SELECT setval(pg_get_serial_sequence('registry_case', 'id'), (SELECT max(id) FROM registry_case))`);
    await db.query(`SELECT setval(pg_get_serial_sequence('person', 'id'), (SELECT max(id) FROM person))`);
    await db.query('ANALYZE person, registry_case, case_form, analytics_change');
    return { cases: done, copies, yearGroups };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await db.query('DROP TABLE IF EXISTS bench_case, bench_unit_map; DROP FUNCTION IF EXISTS pg_temp.bench_shift').catch(() => undefined);
    db.release();
  }
}
