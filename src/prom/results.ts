// PROM results for a registry, a unit and a year, as aggregates: response rates per time point and
// instrument, responders against non-responders by the registry's comparison variables, and the
// scores at each time point with their change from the first. All in set-based SQL over the
// analytics table (which gives the unit path, the period and the comparison variables) and the
// PROM tables; every count passes small-counts.ts before it leaves.
//
// Who counts as asked (the denominator of a response rate) comes from the schedule itself, not
// from the invitations sent: every case of the schedule's population whose time point window has
// closed by the as-of date, alive when it closed, not of a registry the patient objected to. So
// answers imported from another system (who invited the patient there) count the same as answers
// to the platform's own invitations.
import type { PersonData } from '../access/door.ts';
import type { Client } from '../db/pool.ts';
import { analyticsColumns, analyticsTable } from '../analytics/columns.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Instrument } from './instruments.ts';
import { PARAM_OFFSET, registrySchedules, type CompiledSchedule } from './schedule.ts';
import { protectTotal, shownMean, shownRate } from './small-counts.ts';

const PLATFORM = { kind: 'platform', task: 'prom-results' } as const;

type Rate = ReturnType<typeof shownRate>;
type Mean = ReturnType<typeof shownMean>;

export interface PromResults {
  registry: string;
  year: string;
  unit: { resh: string; name: string | null };
  nation: string;
  asOf: string;
  smallCountThreshold: number;
  schedules: Array<{ id: string; title: { nb: string; en: string }; timepoints: Array<{ id: string; label: { nb: string; en: string } }> }>;
  /** Per schedule, time point and instrument: the unit's and the nation's response rate. */
  responseRates: Array<{
    schedule: string;
    timepoint: string;
    instrument: string;
    title: { nb: string; en: string };
    unit: Rate;
    nation: Rate;
  }>;
  /** Per schedule and time point, at the unit: responders (any instrument answered) and non-responders by each comparison variable. */
  responders: Array<{
    schedule: string;
    timepoint: string;
    variable: string;
    label: { nb: string; en: string };
    rows: Array<{ value: string | null; label: string | null } & Rate>;
  }>;
  /** Per instrument, score and time point: the mean at the unit and in the nation, and its mean change from the schedule's first time point (same patients). */
  scores: Array<{
    schedule: string;
    instrument: string;
    score: string;
    label: { nb: string; en: string };
    direction: string;
    timepoint: string;
    unit: Mean;
    nation: Mean;
    change: { unit: Mean; nation: Mean } | null;
  }>;
}

export class PromResultsService {
  constructor(
    private readonly data: PersonData,
    private readonly units: UnitTree,
    private readonly schedules: CompiledSchedule[],
    private readonly instruments: Map<string, Instrument>,
  ) {}

  nation(): string {
    return this.units.all().find((u) => u.level === 'nation')!.resh;
  }

  async results(registry: Registry, q: { year: string; unit?: string; asOf: string }): Promise<PromResults> {
    const nation = this.nation();
    const unit = q.unit ?? nation;
    const threshold = registry.meta.smallCountThreshold;
    // The registry's own schedules: a clinic's follow-up (party: clinic) is the unit's, not the registry's.
    const mine = registrySchedules(this.schedules, registry.id);
    const out: PromResults = {
      registry: registry.id,
      year: q.year,
      unit: { resh: unit, name: this.units.get(unit)?.nameNb ?? null },
      nation,
      asOf: q.asOf,
      smallCountThreshold: threshold,
      schedules: mine.map((s) => ({
        id: s.def.id,
        title: s.def.title,
        timepoints: s.def.timepoints.map((t) => ({ id: t.id, label: t.label })),
      })),
      responseRates: [],
      responders: [],
      scores: [],
    };
    await this.data.transaction(
      PLATFORM,
      'prom:results',
      async (tx) => {
        for (const s of mine) {
          const rows = await eligibleCounts(tx.client, registry, s, q.year, q.asOf, [unit, nation]);
          const at = (u: string, tp: string, inst: string) =>
            rows.find((r) => r.unit === u && r.timepoint === tp && r.instrument === inst && r.grp === 'instrument');
          for (const t of s.def.timepoints)
            for (const rule of s.rules) {
              if (!rule.at.includes(t.id)) continue;
              const u = at(unit, t.id, rule.instrument),
                n = at(nation, t.id, rule.instrument);
              if (!u && !n) continue;
              out.responseRates.push({
                schedule: s.def.id,
                timepoint: t.id,
                instrument: rule.instrument,
                title: this.instruments.get(rule.instrument)?.def.title ?? { nb: rule.instrument, en: rule.instrument },
                unit: shownRate(u?.responders ?? 0, u?.eligible ?? 0, threshold),
                nation: shownRate(n?.responders ?? 0, n?.eligible ?? 0, threshold),
              });
            }
          for (const t of s.def.timepoints)
            for (const variable of s.compareBy) {
              const cells = rows.filter((r) => r.unit === unit && r.timepoint === t.id && r.grp === variable);
              if (!cells.length) continue;
              const list = cells.map((c) => ({
                value: c.value,
                label: valueLabel(registry, variable, c.value),
                ...shownRate(c.responders, c.eligible, threshold),
                _e: c.eligible,
                _r: c.responders,
              }));
              // The rows add up to the time point's totals, which are shown (EQ-5D-5L is asked of all):
              // one withheld row must not be their difference. First who was asked, then who answered.
              const hideAll = (c: (typeof list)[number]) =>
                Object.assign(c, { eligible: null, responders: null, nonResponders: null, rate: null });
              protectTotal(
                list,
                (c) => c._e,
                (c) => c.eligible === null,
                hideAll,
              );
              protectTotal(
                list,
                (c) => Math.min(c._r, c._e - c._r),
                (c) => c.responders === null,
                (c) => Object.assign(c, { responders: null, nonResponders: null, rate: null }),
              );
              out.responders.push({
                schedule: s.def.id,
                timepoint: t.id,
                variable,
                label: analyticsColumns(registry).find((c) => c.name === variable)?.label ?? { nb: variable, en: variable },
                rows: list
                  .map(({ _e, _r, ...rest }) => rest)
                  .sort((a, b) => (a.value ?? '\uffff').localeCompare(b.value ?? '\uffff', 'nb', { numeric: true })),
              });
            }
          out.scores.push(...(await this.scoreSummary(tx.client, registry, s, q.year, [unit, nation], unit, nation, threshold)));
        }
      },
      { readOnly: true },
    );
    return out;
  }

  private async scoreSummary(
    db: Client,
    registry: Registry,
    s: CompiledSchedule,
    year: string,
    units: string[],
    unit: string,
    nation: string,
    threshold: number,
  ): Promise<PromResults['scores']> {
    const first = s.def.timepoints[0].id;
    const { rows } = await db.query(
      `WITH v AS (
         SELECT i.case_id, i.timepoint, i.instrument, sc.key AS score, (sc.value->>'value')::double precision AS value, a.unit_path
         FROM prom_item i
         JOIN prom_response r ON r.id = i.response_id AND r.status = 'completed'
         JOIN ${analyticsTable(registry)} a ON a.case_id = i.case_id
         CROSS JOIN LATERAL jsonb_each(r.scores) AS sc(key, value)
         WHERE i.registry = $1 AND i.schedule = $2 AND i.status = 'answered'
           AND jsonb_typeof(sc.value->'value') = 'number' AND coalesce(sc.value->>'direction', 'none') <> 'none'
           AND EXTRACT(YEAR FROM ${s.anchorSql}) = $3::int)
       SELECT u.unit, v.instrument, v.score, v.timepoint, count(*)::int AS n, sum(v.value) AS total,
              count(b.value)::int AS pairs, sum(v.value - b.value) AS change
       FROM v
       LEFT JOIN v b ON b.case_id = v.case_id AND b.instrument = v.instrument AND b.score = v.score AND b.timepoint = $4 AND v.timepoint <> $4
       CROSS JOIN LATERAL unnest(v.unit_path) AS u(unit)
       WHERE u.unit = ANY($5)
       GROUP BY 1, 2, 3, 4`,
      [registry.id, s.def.id, Number(year), first, units],
    );
    const out: PromResults['scores'] = [];
    const seen = new Set<string>();
    for (const r of rows) {
      const key = `${r.instrument}|${r.score}|${r.timepoint}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const at = (u: string) =>
        rows.find((x: any) => x.unit === u && x.instrument === r.instrument && x.score === r.score && x.timepoint === r.timepoint);
      const u = at(unit),
        n = at(nation);
      const def = this.instruments.get(r.instrument)?.scores.get(r.score);
      out.push({
        schedule: s.def.id,
        instrument: r.instrument,
        score: r.score,
        label: def?.label ?? { nb: r.score, en: r.score },
        direction: def?.direction ?? 'none',
        timepoint: r.timepoint,
        unit: shownMean(Number(u?.total ?? 0), u?.n ?? 0, threshold),
        nation: shownMean(Number(n?.total ?? 0), n?.n ?? 0, threshold),
        change:
          r.timepoint === first
            ? null
            : {
                unit: shownMean(Number(u?.change ?? 0), u?.pairs ?? 0, threshold),
                nation: shownMean(Number(n?.change ?? 0), n?.pairs ?? 0, threshold),
              },
      });
    }
    const order = (tp: string) => s.def.timepoints.findIndex((t) => t.id === tp);
    return out.sort(
      (a, b) => a.instrument.localeCompare(b.instrument) || a.score.localeCompare(b.score) || order(a.timepoint) - order(b.timepoint),
    );
  }
}

interface CountRow {
  unit: string;
  timepoint: string;
  instrument: string | null;
  grp: string;
  value: string | null;
  eligible: number;
  responders: number;
}

/**
 * Who was to be asked and who answered, for the units given: per time point and instrument, and
 * per time point and value of each comparison variable (a case counts as a responder there when it
 * answered any instrument of the time point). One statement per schedule.
 */
async function eligibleCounts(
  db: Client,
  registry: Registry,
  s: CompiledSchedule,
  year: string,
  asOf: string,
  units: string[],
): Promise<CountRow[]> {
  const lit = (v: string) => db.escapeLiteral(v);
  const tps = s.def.timepoints.map((t) => `(${lit(t.id)}, ${t.offset.months}, ${t.offset.days}, ${t.window.after})`).join(', ');
  const rules = s.rules.map((r) => `(${lit(r.instrument)}, ARRAY[${r.at.map(lit).join(', ')}]::text[], (${r.whenSql}) IS TRUE)`).join(', ');
  const p = s.params.length + PARAM_OFFSET;
  const compare = s.compareBy.map((c, i) => `a."${c}"::text AS c${i}`).join(', ');
  const sets = s.compareBy.map((_, i) => `(u.unit, e.timepoint, c${i})`).join(', ');
  const { rows } = await db.query(
    `WITH e AS (
       SELECT a.case_id, a.unit_path, t.id AS timepoint, r.instrument, ${compare ? `${compare},` : ''}
              EXISTS (SELECT 1 FROM prom_item i WHERE i.registry = ${lit(registry.id)} AND i.case_id = a.case_id AND i.schedule = ${lit(s.def.id)}
                        AND i.timepoint = t.id AND i.instrument = r.instrument AND i.status = 'answered') AS answered
       FROM ${analyticsTable(registry)} a
       CROSS JOIN (VALUES ${tps}) AS t(id, months, days, after)
       CROSS JOIN LATERAL (SELECT ((${s.anchorSql} + make_interval(months => t.months))::date + t.days) AS due) d
       CROSS JOIN LATERAL (VALUES ${rules}) AS r(instrument, at, applies)
       WHERE EXTRACT(YEAR FROM ${s.anchorSql}) = $${p + 1}::int
         AND (${s.populationSql}) IS TRUE AND r.applies AND t.id = ANY (r.at)
         AND d.due + t.after < $1::date
         AND (a.deceased_date IS NULL OR a.deceased_date > d.due + t.after)
         AND NOT EXISTS (SELECT 1 FROM prom_objection o WHERE o.person_id = a.person_id AND o.registry = ${lit(registry.id)})),
     per_case AS (
       SELECT case_id, unit_path, timepoint, ${s.compareBy.map((_, i) => `c${i}`).join(', ')}${s.compareBy.length ? ',' : ''} bool_or(answered) AS answered
       FROM e GROUP BY case_id, unit_path, timepoint${s.compareBy.map((_, i) => `, c${i}`).join('')})
     SELECT u.unit, e.timepoint, e.instrument, 'instrument' AS grp, NULL AS value, count(*)::int AS eligible, count(*) FILTER (WHERE e.answered)::int AS responders
     FROM e CROSS JOIN LATERAL unnest(e.unit_path) AS u(unit) WHERE u.unit = ANY($${p + 2})
     GROUP BY 1, 2, 3
     ${
       s.compareBy.length
         ? `UNION ALL
     SELECT u.unit, e.timepoint, NULL, CASE ${s.compareBy.map((c, i) => `WHEN GROUPING(c${i}) = 0 THEN ${lit(c)}`).join(' ')} END,
            COALESCE(${s.compareBy.map((_, i) => `CASE WHEN GROUPING(c${i}) = 0 THEN c${i} END`).join(', ')}),
            count(*)::int, count(*) FILTER (WHERE e.answered)::int
     FROM per_case e CROSS JOIN LATERAL unnest(e.unit_path) AS u(unit) WHERE u.unit = ANY($${p + 2})
     GROUP BY GROUPING SETS (${sets})`
         : ''
     }`,
    [asOf, ...s.params, Number(year), units],
  );
  return rows.map((r: any) => ({
    unit: r.unit,
    timepoint: r.timepoint,
    instrument: r.instrument,
    grp: r.grp,
    value: r.value,
    eligible: r.eligible,
    responders: r.responders,
  }));
}

function valueLabel(registry: Registry, variable: string, value: string | null): string | null {
  if (value === null) return null;
  const def = registry.variables.get(variable)?.def ?? registry.derived.find((d) => d.def.id === variable)?.def;
  const list = def?.codelist ? registry.codelists.get(def.codelist) : undefined;
  return list?.codes.get(value)?.nb ?? value;
}
