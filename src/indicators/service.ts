// Indicator results as users read them: computed counts turned into a proportion with its Wilson
// interval, "too few" below the minimum denominator, "not computable" with no denominator,
// achievement level, target, and the trend against the previous period. Results are cached per
// registry and recomputed when the analytics data changed or the day changed.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { Caller } from '../access/caller.ts';
import type { PersonData, PersonTx } from '../access/door.ts';
import { columnsSignature } from '../analytics/columns.ts';
import type { Withheld } from '../disclosure/indicators.ts';
import { shareOut } from '../db/share-out.ts';
import type { Queryable } from '../db/pool.ts';
import type { Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';
import type { UnitTree, Unit } from '../units/tree.ts';
import { computeIndicators, type ComputeResult } from './engine.ts';
import { IndicatorMaintainer } from './incremental.ts';
import { loadIndicators, type Indicator } from './load.ts';
import { computeStatistic, loadStatistics, type Statistic, type StatisticResult } from './statistics.ts';
import type { Grain } from './schema.ts';
import { achievementLevel, holdsThreshold, rateInterval, trend, wilson, type Interval, type Level, type Trend } from './stats.ts';
import { analyticsVersion } from '../analytics/version.ts';

const PLATFORM = { kind: 'platform', task: 'indicators' } as const;
/** How often reads may start a background check whether results must be recomputed. */
const FRESHNESS_CHECK_MS = 1000;
/** Changes when the way results are computed changes: stored results of another way are recomputed. */
const ENGINE = 'cells-2';

export type ResultStatus = 'ok' | 'too-few' | 'not-computable' | 'definition-pending';

export interface IndicatorResult {
  indicator: string;
  dataset: 'fresh' | 'qa';
  grain: Grain;
  period: string;
  unit: { resh: string; level: Unit['level'] | null; name: string | null };
  stratifier: string;
  stratum: string;
  /**
   * `too-few`: withheld by disclosure control — too few in the denominator or the numerator, or
   * withheld so that such a result cannot be worked out. Which it is is not said: knowing which
   * withheld count is small and which is not narrows them down (two withheld counts adding up to 6,
   * one of them at least 5, are 5 and 1).
   */
  status: ResultStatus;
  /** Counts and proportion: null when withheld or not computable (the denominator may be shown when only the numerator is withheld). */
  numerator: number | null;
  denominator: number | null;
  proportion: number | null;
  interval: Interval | null;
  targetMet: boolean | null;
  level: Level | null;
  trend: Trend | null;
  previous: { period: string; proportion: number | null } | null;
  /** Shown in full only because the caller works at this unit (what it sees of its own unit is not what is published). */
  ownUnit?: true;
}

/** A stored count with its disclosure decision. */
interface Count {
  k: number;
  n: number;
  wk: Withheld['numerator'];
  wn: Withheld['denominator'];
}

export interface ResultQuery {
  indicator?: string;
  dataset?: 'fresh' | 'qa';
  grain?: Grain;
  period?: string;
  /** Results for these units (not computable where they have no cases). */
  units?: string[];
  /** Results for every unit at this level. */
  level?: Unit['level'];
  stratifier?: string;
}

export class Indicators {
  private readonly byRegistry = new Map<string, Indicator[]>();
  private readonly statisticsByRegistry = new Map<string, Statistic[]>();
  private readonly computing = new Map<string, Promise<void>>();
  /** Registries whose results have been computed at least once. */
  private readonly computed = new Set<string>();
  /** When a read last started a background freshness check, per registry. */
  private readonly checked = new Map<string, number>();
  private readonly signatures = new Map<string, string>();
  /** The last full computation per registry: time per phase (for the bench and the log). */
  readonly lastComputation = new Map<string, ComputeResult & { indicators: number }>();
  /** Moves the stored results with every batch the analytics refresher writes (incremental.ts). */
  readonly maintainer: IndicatorMaintainer;

  constructor(
    private readonly data: PersonData,
    private readonly pool: Queryable,
    registries: Registry[],
    private readonly units: UnitTree,
    private readonly log: Logger,
    /** Connections a full computation is shared out among, each computing a part of the indicators (one statement uses one core). */
    private readonly workers = 1,
  ) {
    for (const r of registries) {
      this.byRegistry.set(r.id, loadIndicators(r));
      this.statisticsByRegistry.set(r.id, loadStatistics(r));
    }
    this.maintainer = new IndicatorMaintainer({
      active: (registry) => this.list(registry).filter((i) => i.def.status === 'active'),
      signature: (registry, ind) => this.signature(registry, ind),
      nation: () => this.nation(),
      units,
      log,
    });
  }

  /**
   * What stored results were computed with: the indicator's declaration, the analytics columns it
   * reads and the engine. Results of another signature are recomputed, never moved incrementally.
   */
  signature(registry: Registry, ind: Indicator): string {
    const key = `${registry.id}/${ind.def.id}`;
    let s = this.signatures.get(key);
    if (!s) {
      s = crypto
        .createHash('sha256')
        .update(`${ENGINE}\n${columnsSignature(registry)}\n${JSON.stringify(ind.def)}`)
        .digest('hex')
        .slice(0, 32);
      this.signatures.set(key, s);
    }
    return s;
  }

  /** The registry's declared statistics that are not proportions (e.g. an adjusted survival measure). */
  statistics(registry: string): Statistic[] {
    return this.statisticsByRegistry.get(registry) ?? [];
  }

  /** A statistic's results per unit and period, computed now from the analytics table; aggregates only. */
  async statisticResults(
    registry: Registry,
    q: { statistic?: string; dataset?: 'fresh' | 'qa'; grain?: Grain; period?: string; units?: string[]; level?: Unit['level'] } = {},
    opts: { asOf?: string } = {},
  ): Promise<StatisticResult[]> {
    const asOf = opts.asOf ?? osloDate(new Date().toISOString());
    const stats = this.statistics(registry.id).filter((s) => !q.statistic || s.def.id === q.statistic);
    const units =
      q.units ??
      (q.level
        ? this.units
            .all()
            .filter((u) => u.level === q.level)
            .map((u) => u.resh)
        : undefined);
    const out: StatisticResult[] = [];
    await this.data.transaction(
      PLATFORM,
      'statistics:compute',
      async (tx) => {
        for (const s of stats)
          out.push(
            ...(await computeStatistic(
              tx,
              registry,
              s,
              { asOf, nation: this.nation(), units: this.units },
              { dataset: q.dataset, grain: q.grain, period: q.period, units },
            )),
          );
      },
      { readOnly: true },
    );
    return out;
  }

  list(registry: string): Indicator[] {
    return this.byRegistry.get(registry) ?? [];
  }
  get(registry: string, id: string): Indicator | undefined {
    return this.list(registry).find((i) => i.def.id === id);
  }

  nation(): string {
    const n = this.units.all().find((u) => u.level === 'nation');
    if (!n) throw new Error('the unit tree has no nation');
    return n.resh;
  }

  /** Recomputes the registry's active indicators when data changed since the last run, or the day changed. */
  ensureFresh(registry: Registry, opts: { asOf?: string; force?: boolean } = {}): Promise<void> {
    const key = `${registry.id}:${opts.asOf ?? ''}`;
    let p = this.computing.get(key);
    if (!p) {
      p = this.refresh(registry, opts).finally(() => this.computing.delete(key));
      this.computing.set(key, p);
    }
    return p;
  }

  private async refresh(registry: Registry, opts: { asOf?: string; force?: boolean }): Promise<void> {
    const asOf = opts.asOf ?? osloDate(new Date().toISOString());
    await this.data.transaction(PLATFORM, 'indicators:compute', async (tx) => {
      // One computation per registry at a time, also across processes, and none while the analytics
      // refresher moves the results with a batch (incremental.ts takes the same lock).
      await tx.client.query('SELECT pg_advisory_xact_lock(4243, hashtext($1))', [registry.id]);
      const version = await analyticsVersion(tx.client, registry.id);
      const runs = new Map(
        (
          await tx.client.query('SELECT indicator, version, as_of::text AS as_of, signature FROM indicator_run WHERE registry = $1', [
            registry.id,
          ])
        ).rows.map((r) => [
          r.indicator as string,
          { version: Number(r.version), asOf: r.as_of as string, signature: r.signature as string | null },
        ]),
      );
      // Results current for this data, day and definition are kept (the refresher keeps them
      // current between computations); the others are computed together, in one pass.
      const stale = this.list(registry.id).filter((ind) => {
        if (ind.def.status !== 'active') return false;
        const run = runs.get(ind.def.id);
        return opts.force || !run || run.version < version || run.asOf !== asOf || run.signature !== this.signature(registry, ind);
      });
      if (stale.length === 0) return;
      const settings = {
        asOf,
        nation: this.nation(),
        version,
        units: this.units,
        signature: (ind: Indicator) => this.signature(registry, ind),
      };
      const parts = Math.min(this.workers, stale.length);
      const done =
        parts <= 1
          ? await computeIndicators(tx, registry, stale, settings)
          : await this.computeInParts(tx, registry, stale, parts, settings);
      this.lastComputation.set(registry.id, { ...done, indicators: stale.length });
      this.log.debug({ registry: registry.id, indicators: stale.length, ...done }, 'indicators computed');
    });
  }

  /**
   * The indicators shared out among `parts` connections, each computing and storing its part in a
   * transaction of its own while this one holds the registry's computation lock: an indicator's
   * results and their disclosure control depend on no other indicator. This transaction waits for
   * every part, and a part commits only while this transaction is still running (db/share-out.ts); a
   * part that fails leaves its indicators to be computed again, the others stored.
   */
  private async computeInParts(
    coordinator: PersonTx,
    registry: Registry,
    stale: Indicator[],
    parts: number,
    opts: Parameters<typeof computeIndicators>[3],
  ): Promise<ComputeResult> {
    const shares = Array.from({ length: parts }, (_, k) => stale.filter((_, i) => i % parts === k));
    const started = performance.now();
    const done = await shareOut<Indicator[], ComputeResult, PersonTx>(
      coordinator.client,
      shares,
      (fn) => this.data.transaction(PLATFORM, 'indicators:compute', fn, { share: true }),
      (tx, share) => computeIndicators(tx, registry, share, opts),
      'the indicator computation lost its lock; its parts are left to be computed again',
    );
    // Phases add up the parts' times (they ran side by side: more than the time it took).
    const phases: Record<string, number> = {};
    for (const d of done) for (const [k, v] of Object.entries(d.phases)) phases[k] = (phases[k] ?? 0) + v;
    return {
      rows: done.reduce((n, d) => n + d.rows, 0),
      ms: Math.round(performance.now() - started),
      phases,
      parts: done.map((d, k) => ({ indicators: shares[k].length, ms: d.ms })),
    };
  }

  /** When each indicator was last computed, from which analytics version. */
  async runs(
    registry: Registry,
  ): Promise<Array<{ indicator: string; version: number; asOf: string; computedAt: string; durationMs: number }>> {
    const { rows } = await this.pool.query(
      `SELECT indicator, version, as_of::text AS as_of, computed_at, duration_ms FROM indicator_run WHERE registry = $1 ORDER BY indicator`,
      [registry.id],
    );
    return rows.map((r) => ({
      indicator: r.indicator,
      version: Number(r.version),
      asOf: r.as_of,
      computedAt: new Date(r.computed_at).toISOString(),
      durationMs: r.duration_ms,
    }));
  }

  /**
   * Results for users: aggregates only, with the counts disclosure control withholds withheld —
   * except, with `viewer`, at the units whose own users the viewer is (unit registrars and readers
   * see their own units in full: they can list those cases anyway).
   */
  async results(registry: Registry, q: ResultQuery = {}, opts: { asOf?: string; viewer?: Caller } = {}): Promise<IndicatorResult[]> {
    // The first time, and for a chosen as-of date, wait for the computation. Otherwise serve what
    // is stored and bring it up to date in the background (one computation at a time): with data
    // arriving all day, a reader should not wait for a recomputation that the next read will show.
    // Results once computed stay (a computation replaces them): known, it need not be asked again.
    // The background check is a transaction of its own; under many readers it is started at most
    // once a second per registry rather than after every read (the refresher itself runs every 2 s).
    if (!this.computed.has(registry.id)) {
      if (Number((await this.pool.query('SELECT count(*) FROM indicator_run WHERE registry = $1', [registry.id])).rows[0].count) > 0)
        this.computed.add(registry.id);
    }
    if (!this.computed.has(registry.id) || opts.asOf) await this.ensureFresh(registry, opts);
    else if (Date.now() - (this.checked.get(registry.id) ?? 0) >= FRESHNESS_CHECK_MS) {
      this.checked.set(registry.id, Date.now());
      this.ensureFresh(registry, opts).catch((err) => this.log.error({ err, registry: registry.id }, 'computing indicators failed'));
    }
    const dataset = q.dataset ?? 'fresh';
    const grain = q.grain ?? 'year';
    // Months computed only to decide 12-month windows are not served (engine.ts, computedGrains).
    const inds = (q.indicator ? [this.get(registry.id, q.indicator)].filter((x): x is Indicator => !!x) : this.list(registry.id)).filter(
      (i) => i.def.status !== 'active' || i.def.grains.includes(grain),
    );
    const own = ownUnits(opts.viewer, registry.id, this.units);
    const unitFilter =
      q.units ??
      (q.level
        ? this.units
            .all()
            .filter((u) => u.level === q.level)
            .map((u) => u.resh)
        : undefined);
    const periods = q.period ? [q.period, previousPeriod(grain, q.period)] : null;
    const { rows } = await this.pool.query(
      `SELECT indicator, period, unit_resh, stratifier, stratum, numerator, denominator, numerator_withheld, denominator_withheld FROM indicator_result
       WHERE registry = $1 AND indicator = ANY($2) AND dataset = $3 AND grain = $4 AND stratifier = $5
         AND ($6::text[] IS NULL OR period = ANY($6)) AND ($7::text[] IS NULL OR unit_resh = ANY($7))`,
      [registry.id, inds.map((i) => i.def.id), dataset, grain, q.stratifier ?? '', periods, unitFilter ?? null],
    );
    const counts = new Map<string, Count>();
    const cells = new Map<string, { indicator: string; period: string; unit: string; stratum: string }>();
    for (const r of rows) {
      counts.set(`${r.indicator}|${r.period}|${r.unit_resh}|${r.stratum}`, {
        k: r.numerator,
        n: r.denominator,
        wk: r.numerator_withheld,
        wn: r.denominator_withheld,
      });
      if (!periods || r.period === q.period)
        cells.set(`${r.indicator}|${r.period}|${r.unit_resh}|${r.stratum}`, {
          indicator: r.indicator,
          period: r.period,
          unit: r.unit_resh,
          stratum: r.stratum,
        });
    }
    // Units asked for that have no cases are shown as not computable, never left out.
    if (unitFilter && q.period && !q.stratifier) {
      for (const ind of inds.filter((i) => i.def.status === 'active'))
        for (const u of unitFilter) {
          const key = `${ind.def.id}|${q.period}|${u}|`;
          if (!cells.has(key)) cells.set(key, { indicator: ind.def.id, period: q.period, unit: u, stratum: '' });
        }
    }
    const out: IndicatorResult[] = [];
    for (const cell of cells.values()) {
      const ind = inds.find((i) => i.def.id === cell.indicator)!;
      const now = counts.get(`${cell.indicator}|${cell.period}|${cell.unit}|${cell.stratum}`) ?? NONE;
      const prevPeriod = previousPeriod(grain, cell.period);
      const before = counts.get(`${cell.indicator}|${prevPeriod}|${cell.unit}|${cell.stratum}`);
      out.push(
        this.describe(
          ind,
          { dataset, grain, period: cell.period, unit: cell.unit, stratifier: q.stratifier ?? '', stratum: cell.stratum },
          now,
          prevPeriod,
          periods || before ? before : undefined,
          own.has(cell.unit),
        ),
      );
    }
    // Pending indicators are listed, so that a report shows them as declared but not yet computed.
    if (!q.indicator || this.get(registry.id, q.indicator)?.def.status === 'pending') {
      for (const ind of inds.filter((i) => i.def.status === 'pending')) {
        for (const unit of unitFilter && q.period ? unitFilter : [this.nation()]) {
          out.push({
            ...this.describe(
              ind,
              { dataset, grain, period: q.period ?? '', unit, stratifier: '', stratum: '' },
              NONE,
              '',
              undefined,
              false,
            ),
            status: 'definition-pending',
          });
        }
      }
    }
    return out.sort(
      (a, b) =>
        a.indicator.localeCompare(b.indicator) ||
        a.period.localeCompare(b.period) ||
        a.unit.resh.localeCompare(b.unit.resh) ||
        a.stratum.localeCompare(b.stratum),
    );
  }

  /**
   * One result as users read it, from the stored counts and their disclosure decision: a withheld
   * numerator takes the share, interval, level, target and trend with it; a withheld denominator
   * takes everything. `own`: the caller's own unit, shown in full (under the minimum denominator
   * still "too few": a share of three patients says nothing, whoever reads it).
   */
  private describe(
    ind: Indicator,
    at: { dataset: 'fresh' | 'qa'; grain: Grain; period: string; unit: string; stratifier: string; stratum: string },
    now: Count,
    prevPeriod: string,
    before: Count | undefined,
    own: boolean,
  ): IndicatorResult {
    const unit = this.units.get(at.unit);
    const nShown = now.n > 0 && (own ? now.n >= ind.minimumDenominator : now.wn === null);
    const kShown = nShown && (own || now.wk === null);
    const status: ResultStatus = now.n === 0 ? 'not-computable' : kShown ? 'ok' : 'too-few';
    const p = kShown ? now.k / now.n : null;
    const beforeShown =
      before !== undefined && before.n > 0 && (own ? before.n >= ind.minimumDenominator : before.wn === null && before.wk === null);
    return {
      indicator: ind.def.id,
      dataset: at.dataset,
      grain: at.grain,
      period: at.period,
      unit: { resh: at.unit, level: unit?.level ?? null, name: unit?.nameNb ?? null },
      stratifier: at.stratifier,
      stratum: at.stratum,
      status,
      numerator: kShown ? now.k : null,
      denominator: nShown ? now.n : null,
      proportion: p,
      // A counted numerator (numeratorCount) is a rate of events, not a share of cases.
      interval: kShown ? (ind.def.numeratorCount ? rateInterval(now.k, now.n) : wilson(now.k, now.n)) : null,
      targetMet: p === null || !ind.def.target ? null : holdsThreshold(p, ind.def.target),
      level: p === null ? null : achievementLevel(p, ind.def.levels),
      trend: kShown && beforeShown ? trend(now, before!, ind.def.direction) : null,
      previous: before ? { period: prevPeriod, proportion: beforeShown ? before.k / before.n : null } : null,
      ...(own && (now.wn !== null || now.wk !== null) && now.n > 0 ? { ownUnit: true as const } : {}),
    };
  }
}

const NONE: Count = { k: 0, n: 0, wk: null, wn: null };

/**
 * The units whose own results a caller sees in full: those of a unit registrar's or reader's grants
 * for this registry, with their sub-units. Nobody else — registry and platform admins included,
 * who publish and so see what is published — and never without a caller.
 */
export function ownUnits(viewer: Caller | undefined, registry: string, units: UnitTree): Set<string> {
  const out = new Set<string>();
  if (viewer?.kind !== 'user') return out;
  for (const g of viewer.grants) {
    if ((g.role === 'unit-registrar' || g.role === 'unit-reader') && (g.registry === registry || g.registry === '*'))
      for (const u of units.descendants(g.unit)) out.add(u);
  }
  return out;
}

/** The period before: the year, quarter or month before; for a rolling 12-month window, the window a year earlier. */
export function previousPeriod(grain: Grain, period: string): string {
  if (grain === 'year') return String(Number(period) - 1);
  if (grain === 'quarter') {
    const [y, q] = [Number(period.slice(0, 4)), Number(period.slice(6))];
    return q === 1 ? `${y - 1}-Q4` : `${y}-Q${q - 1}`;
  }
  const [y, m] = [Number(period.slice(0, 4)), Number(period.slice(5, 7))];
  if (grain === 'rolling-12-months') return `${y - 1}-${String(m).padStart(2, '0')}`;
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}
