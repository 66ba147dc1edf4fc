// The analytics rows of many cases in one statement: the same values `analyticsRecord` computes per
// case in JavaScript (records/evaluate.ts: person values, non-repeating forms, derived variables in
// declaration order, `complete` from required values and rules), computed by PostgreSQL from the
// forms' JSON, so that a refresh is a set-based INSERT … SELECT instead of a round trip per case.
// This module only builds the statement; analytics/refresh.ts runs it inside a door transaction
// (PersonTx from access/door.ts), as every reader of person-level tables does.
//
// Derived variables compile with the expression language's SQL compilation (registry/expr-sql.ts),
// which has the JavaScript meaning (test/expr-differential.test.ts), plus the per-case functions
// the analytics need and SQL can do exactly: a code-list look-up `codeProperty('list', x, 'prop')`,
// `band(x, [limits], [labels])` and a registry parameter `parameter('id', key)`, each as a whole
// derived expression; and `prom` derived variables (a PROM result by time point and instrument,
// evaluate.ts promValue), read from prom_item and prom_response once per case and group. A registry whose
// codebook uses anything else that has no SQL (its own functions in functions.ts, e.g. injury
// scores) is refreshed the JavaScript way: `sqlRowsPlan` says why. Both ways give the same rows
// (test/analytics-sql.test.ts compares them on the same cases).
//
// What each value is, as evaluate.ts sees it: a form variable is the value in the form's JSON, read
// as its declared type (every write path stores values of their declared JSON type:
// registry/values.ts); a derived variable sees the values declared before it (a
// later one is unknown); a repeating form's instance is judged on the case's values with its own on
// top. Columns take values as `typed()` in refresh.ts does: integers rounded as Math.round, text ''
// unknown. Each stage is computed once per row (OFFSET 0), not inlined into every use.
import type jsep from 'jsep';
import { compileToSqlTyped } from '../registry/expr-sql.ts';
import { ExpressionError, parseExpression, type ExprType } from '../registry/expr-types.ts';
import { PERSON_VARIABLES, type Registry } from '../registry/load.ts';
import type { FormDef, VariableType } from '../registry/schema.ts';
import { analyticsColumns } from './columns.ts';

export interface SqlRowsPlan {
  /**
   * The SELECT giving one analytics row per valid case of the registry: of the cases in `ids` when
   * an ids placeholder is given, otherwise of all. Placeholders: $1 registry, $2 ids (bigint[]),
   * $3 the as-of date for `today()`; `values` follow from $4.
   */
  select: (withIds: boolean) => string;
  /** Values of $4, $5, …: literals of the expressions and the code-list look-up tables. */
  values: unknown[];
  /** The output columns, in order. */
  names: string[];
}

type PromDef = NonNullable<Registry['derived'][number]['prom']>;

export type PlanResult = { ok: true; plan: SqlRowsPlan } | { ok: false; reason: string };

const PG: Record<VariableType, string> = {
  text: 'text',
  code: 'text',
  integer: 'double precision',
  decimal: 'double precision',
  boolean: 'boolean',
  date: 'date',
  datetime: 'timestamptz',
};
const CATEGORY: Record<VariableType, ExprType> = {
  text: 'text',
  code: 'text',
  integer: 'number',
  decimal: 'number',
  boolean: 'boolean',
  date: 'date',
  datetime: 'datetime',
};
const FIXED_PARAMS = 3;

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** How a form's JSON is read: every variable as its declared type (numbers as doubles, as JavaScript has them; '' unknown). */
const recordType = (type: VariableType) => PG[type];
const fieldOf = (json: string, name: string, type: VariableType) =>
  CATEGORY[type] === 'text' ? `(${json} ->> ${literal(name)})` : `NULLIF(${json} ->> ${literal(name)}, '')::${PG[type]}`;
/** A repeating form's instances, each read the same way. */
const recordsetOf = (json: string, vars: Array<{ id: string; type: VariableType }>, alias: string) =>
  `jsonb_to_recordset(${json}) AS ${alias}(${vars.map((v) => `"${v.id}" ${recordType(v.type)}`).join(', ')})`;

/** A value as its column takes it (refresh.ts `typed`): whole numbers rounded as Math.round does, no infinities, '' unknown. */
function toColumn(v: string, type: VariableType): string {
  switch (type) {
    case 'integer':
      return `(CASE WHEN ${v} IS NULL OR ${v} IN ('Infinity', '-Infinity', 'NaN') THEN NULL WHEN ${v} - floor(${v}) >= 0.5 THEN ceil(${v}) ELSE floor(${v}) END)::integer`;
    case 'decimal':
      return `(CASE WHEN ${v} IN ('Infinity', '-Infinity', 'NaN') THEN NULL ELSE ${v} END)`;
    case 'text':
    case 'code':
      return `NULLIF(${v}, '')`;
    default:
      return v;
  }
}

/** A value missing from a form (evaluate.ts: undefined, null or ''), read as its type. */
const missingValue = (x: string, type: VariableType) => (CATEGORY[type] === 'text' ? `coalesce(${x}, '') = ''` : `${x} IS NULL`);

export function sqlRowsPlan(registry: Registry): PlanResult {
  try {
    return { ok: true, plan: buildPlan(registry) };
  } catch (err) {
    if (err instanceof NoSql) return { ok: false, reason: err.message };
    if (err instanceof ExpressionError) return { ok: false, reason: err.message };
    throw err;
  }
}

class NoSql extends Error {}

function buildPlan(registry: Registry): SqlRowsPlan {
  const values: unknown[] = [];
  const param = (v: unknown) => {
    values.push(v);
    return `$${FIXED_PARAMS + values.length}`;
  };
  const types = new Map<string, VariableType>([
    ['birth_date', 'date'],
    ['sex', 'code'],
    ['deceased_date', 'date'],
    ...[...registry.variables].map(([id, v]) => [id, v.def.type] as const),
    ...registry.derived.map((d) => [d.def.id, d.def.type] as const),
  ]);
  const formIndex = new Map(registry.forms.map((f, i) => [f.id, i]));
  const formOf = (name: string) => registry.variables.get(name)?.form;
  const nullOf = (name: string) => `NULL::${PG[types.get(name)!]}`;

  // Where each case-level value comes from: person, the form's JSON, or a derived stage.
  const base = (name: string): string | null => {
    if ((PERSON_VARIABLES as readonly string[]).includes(name)) return `b."${name}"`;
    const f = formOf(name);
    if (f && !f.repeating) return `b."${name}"`;
    return null;
  };
  const derivedIndex = new Map(registry.derived.map((d, i) => [d.def.id, i]));
  // Derived variables are computed in layers, each once per row: a variable's layer is one above
  // the highest layer of the derived variables it reads (PostgreSQL would otherwise inline an
  // expression everywhere it is used, and compute it again each time).
  const layerOf: number[] = [];
  const at = (j: number) => `l${layerOf[j]}."${registry.derived[j].def.id}"`;
  /** The case's values as derived variable `k` sees them (those declared before it; all when k is the count); records the derived ones read. */
  const caseColumn =
    (k: number, read?: Set<number>) =>
    (name: string): string => {
      const b = base(name);
      if (b) return b;
      const j = derivedIndex.get(name);
      if (j !== undefined && j < k) {
        read?.add(j);
        return at(j);
      }
      return nullOf(name);
    };
  /** Inside a repeating form's instance: its own variables from its JSON, the case's values otherwise. */
  const instanceColumn =
    (form: FormDef, outer: (name: string) => string) =>
    (name: string): string => {
      const own = form.variables.find((v) => v.id === name);
      return own ? `e."${name}"` : outer(name);
    };
  const compile = (source: string, column: (name: string) => string) =>
    compileToSqlTyped(source, { columns: types, alias: 'a', column, param, asOf: '$3::date' });
  const condition = (source: string, column: (name: string) => string) => {
    const c = compile(source, column);
    if (c.type !== 'boolean') throw new NoSql(`"${source}" is not a condition`);
    return c.sql;
  };

  // The forms of each case, gathered in one pass: their JSON by form, status and last change.
  const gathered = registry.forms.map((f, i) =>
    f.repeating
      ? `jsonb_agg(f.data) FILTER (WHERE f.form = ${literal(f.id)}) AS "r${i}"`
      : `(array_agg(f.data) FILTER (WHERE f.form = ${literal(f.id)}))[1] AS "f${i}"`,
  );
  const baseColumns = [
    `p.birth_date AS "birth_date"`,
    `NULLIF(p.sex, '') AS "sex"`,
    `p.deceased_date AS "deceased_date"`,
    ...registry.forms.flatMap((f, i) => (f.repeating ? [] : f.variables.map((v) => `${fieldOf(`ff."f${i}"`, v.id, v.type)} AS "${v.id}"`))),
  ];

  // PROM results: the case's PROM items read once, with the four values of each
  // (schedule, time point, instruments) that `prom` derived variables read (promLookUp below).
  const promGroups = new Map<string, { prom: PromDef; prefix: string }>();
  const promGroup = (prom: PromDef): ((name: string) => string) => {
    const key = JSON.stringify([prom.schedule ?? null, prom.timepoint, Object.entries(prom.instruments)]);
    let g = promGroups.get(key);
    if (!g) promGroups.set(key, (g = { prom, prefix: `p${promGroups.size}` }));
    const prefix = g.prefix;
    return (name) => `pr."${prefix}_${name}"`;
  };
  /** Whether each derived variable is computed from PROM results (itself one, or reading one). */
  const fromProm: boolean[] = [];

  // Derived variables, each seeing the ones declared before it.
  const derivedSql = registry.derived.map((d, k) => {
    const def = d.def;
    const read = new Set<number>();
    const column = caseColumn(k, read);
    let sql: string;
    if (d.prom) {
      fromProm[k] = true;
      sql = promResult(def.id, d.prom, def.type, promGroup);
    } else if (def.count) {
      const form = registry.forms[formIndex.get(def.count.form)!];
      const r = `ff."r${formIndex.get(def.count.form)}"`;
      const where = def.count.where ? ` WHERE (${condition(def.count.where, instanceColumn(form, column))}) IS TRUE` : '';
      sql = `(CASE WHEN ${r} IS NULL THEN 0 ELSE (SELECT count(*) FROM ${recordsetOf(r, form.variables, 'e')}${where}) END)::double precision`;
      if (CATEGORY[def.type] !== 'number') throw new NoSql(`derived ${def.id}: a count declared ${def.type}`);
    } else if (def.collect) {
      const form = registry.forms[formIndex.get(def.collect.form)!];
      const variable = form.variables.find((v) => v.id === def.collect!.variable)!;
      if (CATEGORY[variable.type] !== 'text')
        throw new NoSql(`derived ${def.id}: collect of a ${variable.type} variable (its text is JavaScript's)`);
      const r = `ff."r${formIndex.get(def.collect.form)}"`;
      const where = def.collect.where ? ` AND (${condition(def.collect.where, instanceColumn(form, column))}) IS TRUE` : '';
      // JavaScript sorts by UTF-16 code unit; COLLATE "C" by code point: the same but for characters beyond U+FFFF.
      sql = `(SELECT string_agg(x.v, ',' ORDER BY x.v COLLATE "C") FROM (SELECT NULLIF(e."${variable.id}", '') AS v
        FROM ${recordsetOf(r, form.variables, 'e')} WHERE TRUE${where}) x WHERE x.v IS NOT NULL)`;
    } else {
      sql =
        perCaseFunction(def.expr!, def.type, column, param, registry, types) ??
        parameterLookUp(def.expr!, def.type, column, param, registry, types) ??
        (() => {
          const c = compile(def.expr!, column);
          if (c.type !== 'null' && c.type !== CATEGORY[def.type])
            throw new NoSql(`derived ${def.id}: "${def.expr}" gives ${c.type}, declared ${def.type}`);
          return c.type === 'null' ? nullOf(def.id) : c.sql;
        })();
    }
    layerOf[k] = 1 + Math.max(0, ...[...read].map((j) => layerOf[j]));
    if (!fromProm[k]) fromProm[k] = [...read].some((j) => fromProm[j]);
    return sql;
  });
  const layers = Math.max(0, ...layerOf);
  // OFFSET 0 keeps each stage a stage: computed once per row, not inlined into every use.
  const stages = Array.from({ length: layers }, (_, i) => i + 1).map(
    (l) =>
      `CROSS JOIN LATERAL (SELECT ${registry.derived
        .map((d, k) => (layerOf[k] === l ? `${derivedSql[k]} AS "${d.def.id}"` : null))
        .filter((x) => x !== null)
        .join(', ')} OFFSET 0) l${l}`,
  );

  // `complete`: no form of the codebook has a required value missing or an error rule broken.
  // Judged as capture judges a case (evaluate.ts evaluateCase), without its PROM results: a `prom`
  // variable is unknown there. A rule reading a value computed from one would need every derived
  // value computed twice; no codebook does, so such a codebook goes the JavaScript way.
  const final = caseColumn(registry.derived.length);
  const judged = (name: string): string => {
    const j = derivedIndex.get(name);
    if (j !== undefined && registry.derived[j].prom) return nullOf(name);
    if (j !== undefined && fromProm[j]) throw new NoSql(`a rule or requirement reads ${name}, computed from PROM results`);
    return final(name);
  };
  const problems = registry.forms
    .map((form, i) => {
      const own = new Set(form.variables.map((v) => v.id));
      const column = form.repeating ? instanceColumn(form, judged) : judged;
      const checks: string[] = [];
      for (const v of form.variables) {
        if (v.required === false) continue;
        const req = v.required === true ? 'TRUE' : `(${condition(v.required, column)}) IS TRUE`;
        checks.push(`(${req} AND ${missingValue(form.repeating ? `e."${v.id}"` : `b."${v.id}"`, v.type)})`);
      }
      for (const rule of registry.rules) {
        if (rule.def.severity !== 'error' || !rule.def.variables.some((v) => own.has(v))) continue;
        const when = rule.def.when ? `(${condition(rule.def.when, column)}) IS TRUE AND ` : '';
        const assert = compile(rule.def.assert, column);
        checks.push(`(${when}(${assert.sql}) IS FALSE)`);
      }
      if (checks.length === 0) return null;
      return form.repeating
        ? `EXISTS (SELECT 1 FROM ${recordsetOf(`ff."r${i}"`, form.variables, 'e')} WHERE ${checks.join(' OR ')})`
        : `(ff."f${i}" IS NOT NULL AND (${checks.join(' OR ')}))`;
    })
    .filter((x): x is string => x !== null);

  const columns = analyticsColumns(registry);
  const outputs = [
    'c.id AS case_id',
    'c.person_id',
    'c.unit_resh',
    `coalesce(u.path, '{}') AS unit_path`,
    'coalesce(ff.n > 0 AND ff.all_final, false) AS finalised',
    `${problems.length ? `NOT (${problems.join(' OR ')})` : 'TRUE'} AS complete`,
    // milliseconds, as the JavaScript way has always stored them
    `date_trunc('milliseconds', c.created_at) AS case_created_at`,
    `date_trunc('milliseconds', greatest(c.created_at, ff.updated)) AS data_updated_at`,
    'c.event_key',
    ...columns.map((c) => `${toColumn(final(c.name), c.type)} AS "${c.name}"`),
  ];
  const names = [
    'case_id',
    'person_id',
    'unit_resh',
    'unit_path',
    'finalised',
    'complete',
    'case_created_at',
    'data_updated_at',
    'event_key',
    ...columns.map((c) => c.name),
  ];
  // Built once: its literals are parameters, numbered as they are collected.
  const promJoin = promGroups.size ? `CROSS JOIN LATERAL (${promLookUp([...promGroups.values()], param)}) pr` : '';
  const select = (withIds: boolean) => `
    SELECT ${outputs.join(',\n      ')}
    FROM registry_case c
    JOIN person p ON p.id = c.person_id
    LEFT JOIN org_unit u ON u.resh = c.unit_resh
    ${promJoin}
    CROSS JOIN LATERAL (
      SELECT count(*) AS n, bool_and(f.status = 'finalised') AS all_final, max(f.updated_at) AS updated, ${gathered.join(', ')}
      FROM case_form f WHERE f.registry = c.registry AND f.case_id = c.id
    ) ff
    CROSS JOIN LATERAL (SELECT ${baseColumns.join(', ')} OFFSET 0) b
    ${stages.join('\n    ')}
    WHERE c.registry = $1${withIds ? ' AND c.id = ANY($2::bigint[])' : ' AND $2::bigint[] IS NULL'} AND c.invalid_reason IS NULL
      AND $3::date IS NOT NULL`;
  return { select, values, names };
}

/**
 * `codeProperty('list', x, 'property')` and `band(x, [limits], [labels])` as a whole derived
 * expression, in SQL; null when the expression is something else.
 */
function perCaseFunction(
  source: string,
  type: VariableType,
  column: (name: string) => string,
  param: (v: unknown) => string,
  registry: Registry,
  types: Map<string, VariableType>,
): string | null {
  const ast = parseExpression(source);
  if (ast.type !== 'CallExpression') return null;
  const call = ast as jsep.CallExpression;
  const name = call.callee.type === 'Identifier' ? (call.callee as jsep.Identifier).name : '';
  const args = call.arguments as jsep.Expression[];
  const str = (n: jsep.Expression) =>
    n.type === 'Literal' && typeof (n as jsep.Literal).value === 'string' ? ((n as jsep.Literal).value as string) : null;
  const ident = (n: jsep.Expression) => (n.type === 'Identifier' ? (n as jsep.Identifier).name : null);
  const variableType = (v: string) => types.get(v);
  if (name === 'codeProperty') {
    const list = args[0] && str(args[0]),
      v = args[1] && ident(args[1]),
      property = args[2] && str(args[2]);
    if (args.length !== 3 || list === null || !v || property === null)
      throw new NoSql(`"${source}": codeProperty needs a list name, a variable and a property name`);
    if (CATEGORY[variableType(v) ?? 'boolean'] !== 'text' || CATEGORY[type] !== 'text')
      throw new NoSql(`"${source}": codeProperty of a text variable, into text`);
    // The look-up table travels as one parameter: code → the property's value (a text, as code lists keep them).
    const table: Record<string, string> = {};
    for (const [code, props] of registry.codelists.get(list)?.properties ?? [])
      if (typeof props[property] === 'string') table[code] = props[property];
    return `(${param(JSON.stringify(table))}::jsonb ->> NULLIF(${column(v)}, ''))`;
  }
  if (name === 'band') {
    const v = args[0] && ident(args[0]);
    const limits = args[1]?.type === 'ArrayExpression' ? ((args[1] as jsep.ArrayExpression).elements as jsep.Expression[]) : null;
    const labels = args[2]?.type === 'ArrayExpression' ? ((args[2] as jsep.ArrayExpression).elements as jsep.Expression[]) : null;
    const numbers = limits?.map((l) =>
      l.type === 'Literal' && typeof (l as jsep.Literal).value === 'number' ? ((l as jsep.Literal).value as number) : null,
    );
    const texts = labels?.map(str);
    if (args.length !== 3 || !v || !numbers || !texts || numbers.some((x) => x === null) || texts.some((x) => x === null)) {
      throw new NoSql(`"${source}": band needs a variable, a list of numbers and a list of labels`);
    }
    if (CATEGORY[variableType(v) ?? 'boolean'] !== 'number' || CATEGORY[type] !== 'text')
      throw new NoSql(`"${source}": band of a number, into text`);
    const x = column(v);
    const label = (i: number) => (texts[i] === undefined ? 'NULL::text' : `${param(texts[i])}::text`);
    const whens = numbers.map((limit, i) => `WHEN ${x} < (${limit})::double precision THEN ${label(i)}`).join(' ');
    return `(CASE WHEN ${x} IS NULL THEN NULL::text ${whens} ELSE ${label(numbers.length)} END)`;
  }
  return null;
}

/**
 * The case's PROM items, read once (one row, whatever it has; the registry's own items only, as
 * prom/case-results.ts reads them: a clinic's follow-up never reaches a registry's data), and per group (one time point, of
 * one schedule when named, the instruments listed) what evaluate.ts `promValue` reads: per
 * instrument the first item (by schedule), then in the order the instruments are listed, the first
 * item's status and instrument, and the first answered one's score object (the instrument's named
 * score in a completed response) and answer time. One look-up per case and group cost as much as
 * the rest of the row (bench/indicators.ts, 10,000 cases); one per case, a fraction.
 */
function promLookUp(groups: Array<{ prom: PromDef; prefix: string }>, param: (v: unknown) => string): string {
  const timepoints = `${param([...new Set(groups.map((g) => g.prom.timepoint))])}::text[]`;
  const columns = groups.flatMap(({ prom, prefix }) => {
    const list = `${param(Object.keys(prom.instruments))}::text[]`;
    const scoreName = `${param(JSON.stringify(prom.instruments))}::jsonb`;
    const which = `i.timepoint = ${param(prom.timepoint)}::text AND i.instrument = ANY(${list}) AND ${
      prom.schedule ? `i.schedule = ${param(prom.schedule)}::text` : 'i.first'
    }`;
    const order = `ORDER BY array_position(${list}, i.instrument)`;
    return [
      `(array_agg(i.status ${order}) FILTER (WHERE ${which}))[1] AS "${prefix}_status"`,
      `(array_agg(i.instrument ${order}) FILTER (WHERE ${which}))[1] AS "${prefix}_instrument"`,
      `(array_agg(i.scores -> (${scoreName} ->> i.instrument) ${order}) FILTER (WHERE ${which} AND i.answered))[1] AS "${prefix}_score"`,
      `(array_agg(i.answered_at ${order}) FILTER (WHERE ${which} AND i.answered))[1] AS "${prefix}_answered_at"`,
    ];
  });
  // "answered" as JavaScript's `status === 'answered' && scores`: JSON null, 0, "" and false are falsy there.
  return `SELECT ${columns.join(', ')}
      FROM (SELECT i.timepoint, i.instrument, i.schedule, i.status, r.scores, r.answered_at,
          row_number() OVER (PARTITION BY i.timepoint, i.instrument ORDER BY i.schedule) = 1 AS first,
          (i.status = 'answered' AND r.scores IS NOT NULL AND r.scores NOT IN ('null', '0', '""', 'false')) AS answered
        FROM prom_item i LEFT JOIN prom_response r ON r.id = i.response_id AND r.status = 'completed'
        WHERE i.registry = c.registry AND i.case_id = c.id AND i.party = 'registry' AND i.timepoint = ANY(${timepoints})) i`;
}

/**
 * A `prom` derived variable's value from its look-up (promLookUp), as its declared type. A score
 * that is not a number (or a direction not a text) is refused, as a form value of the wrong type
 * is: the batch then goes the JavaScript way (refresh.ts), which reads it as unknown.
 */
function promResult(id: string, prom: PromDef, type: VariableType, group: (p: PromDef) => (name: string) => string): string {
  const a = group(prom);
  const category = CATEGORY[type];
  const refuse = (x: string, what: string) => `CAST('refused: a PROM ${what} of type ' || jsonb_typeof(${x}) AS integer)`;
  const unknown = (x: string) => `${x} IS NULL OR jsonb_typeof(${x}) = 'null'`;
  switch (prom.value) {
    case 'status':
    case 'instrument':
      if (category !== 'text') throw new NoSql(`derived ${id}: a PROM ${prom.value} declared ${type}`);
      return a(prom.value);
    case 'direction': {
      if (category !== 'text') throw new NoSql(`derived ${id}: a PROM direction declared ${type}`);
      const d = `(${a('score')} -> 'direction')`;
      return `(CASE WHEN ${unknown(d)} THEN NULL WHEN jsonb_typeof(${d}) = 'string' THEN ${d} #>> '{}' ELSE ${refuse(d, 'direction')}::text END)`;
    }
    case 'answered': {
      const day = `((${a('answered_at')} AT TIME ZONE 'Europe/Oslo')::date)`;
      if (type === 'date') return day;
      if (category === 'text') return `to_char(${day}, 'YYYY-MM-DD')`;
      throw new NoSql(`derived ${id}: the date a PROM was answered declared ${type}`);
    }
    default: {
      if (category !== 'number') throw new NoSql(`derived ${id}: a PROM score declared ${type}`);
      const v = `(${a('score')} -> 'value')`;
      return `(CASE WHEN ${unknown(v)} THEN NULL WHEN jsonb_typeof(${v}) = 'number' THEN (${v})::double precision ELSE ${refuse(v, 'score')}::double precision END)`;
    }
  }
}

/**
 * `parameter('id')` or `parameter('id', key)` (parameters.ts) as a whole derived expression: the
 * declared value, by the key's text where keyed; null when the expression is something else.
 * Values must be of the declared type, as JavaScript would pass them on unchanged.
 */
function parameterLookUp(
  source: string,
  type: VariableType,
  column: (name: string) => string,
  param: (v: unknown) => string,
  registry: Registry,
  types: Map<string, VariableType>,
): string | null {
  const ast = parseExpression(source);
  if (ast.type !== 'CallExpression') return null;
  const call = ast as jsep.CallExpression;
  if (call.callee.type !== 'Identifier' || (call.callee as jsep.Identifier).name !== 'parameter') return null;
  const args = call.arguments as jsep.Expression[];
  const first = args[0] as jsep.Literal | undefined;
  if (!first || first.type !== 'Literal' || typeof first.value !== 'string' || args.length > 2)
    throw new NoSql(`"${source}": parameter needs a parameter name and at most a key variable`);
  const def = registry.parameters.get(first.value);
  const category = CATEGORY[type];
  const jsType = category === 'number' ? 'number' : category === 'text' ? 'string' : category === 'boolean' ? 'boolean' : null;
  const nothing = `NULL::${PG[type]}`;
  if (!def) return nothing;
  if (typeof def.values !== 'object') {
    if (typeof def.values !== jsType) throw new NoSql(`"${source}": a ${typeof def.values} parameter declared ${type}`);
    return `${param(String(def.values))}::${PG[type]}`;
  }
  if (Object.values(def.values).some((v) => typeof v !== jsType))
    throw new NoSql(`"${source}": parameter values that are not all of type ${type}`);
  if (args.length < 2) return nothing;
  const key = args[1].type === 'Identifier' ? (args[1] as jsep.Identifier).name : null;
  if (!key || CATEGORY[types.get(key) ?? 'boolean'] !== 'text') throw new NoSql(`"${source}": a parameter keyed by a text variable`);
  // The table travels as one parameter; a key it does not list (or '' or unknown) has no value.
  const value = `(${param(JSON.stringify(def.values))}::jsonb ->> NULLIF(${column(key)}, ''))`;
  return category === 'text' ? value : `${value}::${PG[type]}`;
}
