// The registrar's worklist, as a registrar works it: search (case number, the sending system's
// record number, or a value such as a code), filter by form, by the variable that is missing and by
// the case date, sort, page or export; every problem named with the form instance it is in
// ("Skadegradering 2: 450203.3 — invalid code"); each row with the case header. The same query
// lists complete registrations not yet finalised, for a reviewed bulk finalise.
import type { PersonTx } from '../access/door.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import type { Text } from '../registry/schema.ts';
import { caseHeaders, type CaseHeader } from './case-header.ts';
import type { Finding } from './evaluate.ts';
import { READ, RecordError } from './workflow.ts';

export const SORTS = ['created', '-created', 'date', '-date', 'missing', '-missing', 'case', '-case'] as const;
export type Sort = (typeof SORTS)[number];

export interface WorklistQuery {
  /** incomplete: missing values or broken rules (the worklist); finalisable: complete, not every form finalised. */
  status: 'incomplete' | 'finalisable';
  unit?: string;
  /** A case number, the sending system's record number, or the start of a value (e.g. a code). */
  q?: string;
  /** Only problems in this form. */
  form?: string;
  /** Only cases where this variable is missing. */
  variable?: string;
  /** The registry's case date (e.g. the date of injury), from and to (inclusive). */
  from?: string;
  to?: string;
  sort?: Sort;
  limit: number;
  offset: number;
}

export interface Problem {
  form: string;
  instance: string;
  status: string;
  /** "Skadegradering 2: 450203.3" for an instance of a repeating form; the form's title otherwise. */
  title: Text;
  missing: Array<{ variable: string; label: Text }>;
  findings: Finding[];
}
export interface WorklistRow {
  caseId: number;
  unit: string | null;
  createdAt: string;
  updatedAt: string;
  date: string | null;
  header: CaseHeader | null;
  problems: Problem[];
  forms: { total: number; finalised: number };
}

/** The case's date, as SQL over registry_case `c` (the case-date variable in its form, else when it was registered). */
export function caseDaySql(registry: Registry): string {
  const v = registry.meta.caseDate;
  const entry = v ? registry.variables.get(v) : undefined;
  if (!v || !entry || entry.form.repeating) return `(c.created_at AT TIME ZONE 'Europe/Oslo')::date`;
  const value =
    entry.def.type === 'datetime' ? `((d.data->>'${v}')::timestamptz AT TIME ZONE 'Europe/Oslo')::date` : `(d.data->>'${v}')::date`;
  return `(SELECT ${value} FROM case_form d WHERE d.registry = c.registry AND d.case_id = c.id AND d.form = '${entry.form.id}' AND d.instance = '')`;
}

/** The problems of a case's forms, each with the instance's title as a registrar reads it. */
export function problemsOf(
  registry: Registry,
  forms: Array<{ form: string; instance: string; status: string; data: Record<string, unknown>; missing: string[]; findings: Finding[] }>,
  only?: string,
): Problem[] {
  const order = (f: string) => registry.forms.findIndex((x) => x.id === f);
  const sorted = [...forms].sort((a, b) => order(a.form) - order(b.form) || a.instance.localeCompare(b.instance));
  return sorted
    .filter((f) => (f.missing.length || f.findings.length) && (!only || f.form === only))
    .map((f) => {
      const def = registry.forms.find((x) => x.id === f.form);
      let title: Text = def?.title ?? { nb: f.form, en: f.form };
      if (f.instance && def) {
        const n = sorted.filter((x) => x.form === f.form).findIndex((x) => x.instance === f.instance) + 1;
        const first = def.variables.map((v) => f.data[v.id]).find((v) => v !== null && v !== undefined && v !== '');
        title = {
          nb: `${def.title.nb} ${n}${first !== undefined ? `: ${String(first)}` : ''}`,
          en: `${def.title.en} ${n}${first !== undefined ? `: ${String(first)}` : ''}`,
        };
      }
      return {
        form: f.form,
        instance: f.instance,
        status: f.status,
        title,
        missing: f.missing.map((v) => ({ variable: v, label: registry.variables.get(v)?.def.label ?? { nb: v, en: v } })),
        findings: f.findings,
      };
    });
}

export async function worklistQuery(
  tx: PersonTx,
  registry: Registry,
  q: WorklistQuery,
  keys: IdentityKeys,
  opts: { unitName(resh: string): Text | null; audit?: 'list' | 'export' },
): Promise<{ total: number; rows: WorklistRow[] }> {
  if (q.form && !registry.forms.some((f) => f.id === q.form))
    throw new RecordError(`"${q.form}" is not a form of ${registry.id}.`, 400, [], 'request.invalid');
  if (q.variable && !registry.variables.has(q.variable))
    throw new RecordError(`"${q.variable}" is not a variable of ${registry.id}.`, 400, [], 'request.invalid');
  for (const d of [q.from, q.to])
    if (d !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(d))
      throw new RecordError('from and to are dates written YYYY-MM-DD.', 400, [], 'request.invalid');
  const scope = tx.unitsFor(registry.id, [...READ]);
  if (q.unit) tx.requireUnit(registry.id, q.unit, [...READ]);
  const units = q.unit ? tx.units.descendants(q.unit) : scope;
  const params: unknown[] = [registry.id, units];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const where: string[] = ['c.registry = $1', '($2::text[] IS NULL OR c.unit_resh = ANY($2))', 'c.invalid_reason IS NULL'];
  // Which cases: with a problem (in the form asked for), or complete but not yet all finalised.
  if (q.status === 'incomplete') {
    where.push(
      `EXISTS (SELECT 1 FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id AND (cardinality(f.missing) > 0 OR jsonb_array_length(f.findings) > 0)${q.form ? ` AND f.form = ${p(q.form)}` : ''}${q.variable ? ` AND ${p(q.variable)} = ANY(f.missing)` : ''})`,
    );
  } else {
    where.push(
      `NOT EXISTS (SELECT 1 FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id AND (cardinality(f.missing) > 0 OR f.findings @> '[{"severity": "error"}]'))`,
    );
    where.push(`EXISTS (SELECT 1 FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id AND f.status <> 'finalised')`);
  }
  const term = q.q?.trim();
  if (term) {
    // A number is a case number, a record number or a whole value (e.g. an injury code); anything
    // with letters also finds values starting with it (e.g. every code under 2R3).
    const numeric = /^[\d.]+$/.test(term);
    const value = numeric ? `kv.value = ${p(term)}` : `kv.value ILIKE ${p(`${term.replace(/[\\%_]/g, (m) => `\\${m}`)}%`)}`;
    const conds = [
      `c.anchor_key LIKE '%|' || ${p(term)}`,
      `EXISTS (SELECT 1 FROM case_form f, jsonb_each_text(f.data) kv WHERE f.registry = c.registry AND f.case_id = c.id AND ${value})`,
    ];
    if (/^\d{1,15}$/.test(term)) conds.unshift(`c.id = ${p(Number(term))}`);
    where.push(`(${conds.join(' OR ')})`);
  }
  const day = caseDaySql(registry);
  if (q.from) where.push(`${day} >= ${p(q.from)}::date`);
  if (q.to) where.push(`${day} <= ${p(q.to)}::date`);
  const sort = q.sort ?? 'created';
  const dir = sort.startsWith('-') ? 'DESC' : 'ASC';
  const key = { created: 'p.created_at', date: 'p.day', missing: 'p.problems', case: 'p.id' }[sort.replace('-', '') as 'created'];
  // The day and the count of problems are worked out for every candidate only when the list is
  // sorted by them; otherwise only for the page shown (a unit's worklist may hold thousands).
  const sortKey = sort.replace('-', '');
  const problemsSql = `(SELECT coalesce(sum(cardinality(f.missing) + jsonb_array_length(f.findings)), 0) FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id)::int`;
  const res = await tx.client.query(
    `WITH picked AS (
       SELECT c.id, c.person_id, c.unit_resh, c.created_at, c.updated_at${sortKey === 'date' ? `, ${day} AS day` : ''}${sortKey === 'missing' ? `, ${problemsSql} AS problems` : ''}
       FROM registry_case c WHERE ${where.join(' AND ')}),
     page AS (
       SELECT p.*, count(*) OVER () AS total FROM picked p
       ORDER BY ${key} ${dir} NULLS LAST, p.id ${dir} LIMIT ${p(Math.min(q.limit, 100_000))} OFFSET ${p(q.offset)})
     SELECT p.id, p.person_id, p.unit_resh, p.created_at, p.updated_at, p.total, ${sortKey === 'date' ? 'p.day' : day} AS day,
       (SELECT jsonb_agg(jsonb_build_object('form', f.form, 'instance', f.instance, 'status', f.status, 'data', f.data, 'missing', f.missing, 'findings', f.findings))
        FROM case_form f WHERE f.registry = $1 AND f.case_id = p.id) AS forms
     FROM page p JOIN registry_case c ON c.registry = $1 AND c.id = p.id
     ORDER BY ${key} ${dir} NULLS LAST, p.id ${dir}`,
    params,
  );
  tx.audit({
    action: opts.audit ?? 'list',
    object: `${registry.id}/worklist${q.status === 'finalisable' ? '/finalisable' : ''}${q.unit ? `/${q.unit}` : ''}`,
    personIds: res.rows.map((r) => Number(r.person_id)),
    unit: q.unit ?? null,
    registry: registry.id,
  });
  const headers = await caseHeaders(
    tx,
    registry,
    res.rows.map((r) => Number(r.id)),
    keys,
    opts,
  );
  return {
    total: Number(res.rows[0]?.total ?? 0),
    rows: res.rows.map((r) => ({
      caseId: Number(r.id),
      unit: r.unit_resh,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
      date: r.day ? osloDay(r.day) : null,
      header: headers.get(Number(r.id)) ?? null,
      problems: problemsOf(registry, r.forms ?? [], q.form),
      forms: {
        total: (r.forms ?? []).length,
        finalised: (r.forms ?? []).filter((f: { status: string }) => f.status === 'finalised').length,
      },
    })),
  };
}

function osloDay(d: Date | string): string {
  if (typeof d === 'string') return d.slice(0, 10);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
