// Data quality as the platform serves it: the checks of each registry (from its codebook and
// quality.yaml), counted live over the analytics table and cached until the analytics change,
// judged against the thresholds read now; the cases behind a finding, through the one door
// (within the caller's units, audited, paged without a cap); and the follow-up of findings.
import type { Logger } from 'pino';
import type { PersonData, PersonTx } from '../access/door.ts';
import type { Caller, Role } from '../access/caller.ts';
import { callerLabel } from '../access/caller.ts';
import { analyticsColumns, analyticsTable } from '../analytics/columns.ts';
import type { Indicators } from '../indicators/service.ts';
import type { Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';
import type { UnitTree } from '../units/tree.ts';
import { buildChecks, checkKey, type CheckSet } from './checks.ts';
import { loadQualityDef, ThresholdFiles, type QualityDef, type Thresholds } from './declaration.ts';
import { judge, type QualityReport } from './judge.ts';
import { measure, type Measured } from './measures.ts';
import { computeCoverage, readEpisodes, storedCoverage, unlinkedEpisodes, type CoverageRow, type OnlyInNpr } from './coverage.ts';
import { importExtract, NprError, relinkExtract, uncheckedExtracts, type ImportResult } from './npr.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { VariableType } from '../registry/schema.ts';
import { discloseCount } from './disclosure.ts';
import { coverageFor, coverageIndex, DEFAULT_LOW_COVERAGE, type ResultCoverage } from './coverage-link.ts';
import { agreement } from './validation.ts';
import { computeEvidence, loadStageDef, stageVerdict, wordingFor, type StageAssessment, type StageDef, type StageItem } from './stage.ts';
import { KvalregError, kindOfStatus } from '../errors.ts';
import { analyticsVersion } from '../analytics/version.ts';

const PLATFORM = { kind: 'platform', task: 'quality' } as const;
export const QUALITY_READERS: Role[] = ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'];
export const QUALITY_WRITERS: Role[] = ['unit-registrar', 'registry-admin', 'platform-admin'];
export const FOLLOW_UP_STATUSES = ['open', 'followed-up', 'resolved'] as const;
export type FollowUpStatus = (typeof FOLLOW_UP_STATUSES)[number];

export class QualityError extends KvalregError {
  constructor(message: string, status = 400) {
    super(kindOfStatus(status), message);
  }
}

export interface FollowUp {
  status: FollowUpStatus;
  note: string;
  actor: string;
  at: string;
}
export interface Finding {
  key: string;
  label: unknown;
  verdict: string;
  failures: number | null;
  status: FollowUpStatus;
  history: FollowUp[];
}

export interface CaseRow {
  caseId: number;
  unit: string | null;
  periodDate: string | null;
  value: unknown;
}

export const NPR_IMPORTERS: Role[] = ['registry-admin', 'platform-admin'];

export interface CoverageView extends Omit<CoverageRow, 'bothNpr' | 'bothRegistry' | 'onlyNpr' | 'onlyRegistry' | 'reserved'> {
  name: string;
  level: string;
  bothNpr: number | null;
  bothRegistry: number | null;
  onlyNpr: number | null;
  onlyRegistry: number | null;
  reserved: number | null;
  /** Under the registry's low threshold (national publishing: 60 %): "Lav dekningsgrad". */
  low: boolean;
  withheld?: boolean;
}

export class Quality {
  private readonly defs = new Map<string, { def: QualityDef; set: CheckSet }>();
  private readonly coverageState = new Map<string, string>();
  private readonly stages = new Map<string, StageDef>();
  private readonly cache = new Map<string, Promise<Measured>>();
  readonly thresholdFiles = new ThresholdFiles();

  constructor(
    private readonly data: PersonData,
    private readonly registries: Registry[],
    private readonly units: UnitTree,
    indicators: Indicators,
    private readonly log: Logger,
  ) {
    for (const r of registries) {
      const types = new Map(analyticsColumns(r).map((c) => [c.name, c.type as string]));
      const def = loadQualityDef(r, types);
      if (def) this.defs.set(r.id, { def, set: buildChecks(r, def, indicators.list(r.id)) });
      const stage = loadStageDef(r);
      if (stage) this.stages.set(r.id, stage);
    }
    this.activeIndicators = (id) => indicators.list(id).filter((i) => i.def.status === 'active').length;
  }
  private readonly activeIndicators: (registry: string) => number;

  hasStage(registry: string): boolean {
    return this.stages.has(registry);
  }

  /** The stage assessment for a year: each requirement with the platform's evidence or the registry's answer, and the draft verdict. */
  async stage(registry: Registry, year: number): Promise<StageAssessment> {
    const def = this.stages.get(registry.id);
    if (!def)
      throw new QualityError(`The ${registry.id} registry declares no stage requirements (registries/${registry.id}/stage.yaml).`, 404);
    const nation = this.units.all().find((u) => u.level === 'nation')!.resh;
    const cov = this.defs.get(registry.id)?.def.npr ? await this.coverageRows(registry) : [];
    const coverageIndex = await this.data.transaction(
      PLATFORM,
      'stage',
      async (tx) =>
        (
          await tx.client.query('SELECT year, coverage::float8 AS c FROM coverage WHERE registry = $1 AND unit_resh = $2', [
            registry.id,
            nation,
          ])
        ).rows,
      { readOnly: true },
    );
    const coverage = (y: number) =>
      cov.find((r) => r.unit === nation && r.year === y)?.coverage ?? coverageIndex.find((r: any) => r.year === y)?.c ?? null;
    const answers = await this.stageAnswers(registry.id, year);
    const items = await this.data.transaction(
      PLATFORM,
      'stage',
      async (tx) => {
        const out: StageItem[] = [];
        for (const r of def.requirements) {
          const computed = await computeEvidence(r.evidence, {
            tx,
            registry,
            units: this.units,
            year,
            periodSql: this.defs.get(registry.id)?.set.periodSql ?? null,
            activeIndicators: this.activeIndicators(registry.id),
            coverage,
            coverageLow: this.thresholds(registry).coverage.low,
          });
          const given = answers.get(r.nr) ?? null;
          const declared = def.answers[String(year)]?.[String(r.nr)];
          const answer =
            given ??
            (declared === undefined
              ? null
              : { answer: declared, evidence: `registries/${registry.id}/stage.yaml`, note: '', actor: 'stage.yaml', at: '' });
          out.push({
            nr: r.nr,
            stage: r.stage ?? null,
            level: r.level ?? null,
            chapter: r.chapter,
            text: wordingFor(r.text, year),
            evidenceKind: r.evidence,
            computed,
            answer,
            met: computed !== null && computed.value !== null ? computed.value : (answer?.answer ?? false),
          });
        }
        return out;
      },
      { readOnly: true },
    );
    return { registry: registry.id, year, items, ...stageVerdict(items) };
  }

  private async stageAnswers(registry: string, year: number) {
    const rows = await this.data.transaction(
      PLATFORM,
      'stage',
      async (tx) =>
        (
          await tx.client.query(
            'SELECT DISTINCT ON (nr) nr, answer, evidence, note, actor, at FROM stage_answer WHERE registry = $1 AND year = $2 ORDER BY nr, id DESC',
            [registry, year],
          )
        ).rows,
      { readOnly: true },
    );
    return new Map(
      rows.map((r: any) => [
        Number(r.nr),
        {
          answer: r.answer as boolean,
          evidence: r.evidence as string,
          note: r.note as string,
          actor: r.actor as string,
          at: new Date(r.at).toISOString(),
        },
      ]),
    );
  }

  /** The registry's answer to a requirement, with a link to the evidence: its admins only; kept as history. */
  async answerStage(
    caller: Caller,
    registry: Registry,
    a: { year: number; nr: number; answer: boolean; evidence: string; note: string },
  ): Promise<StageAssessment> {
    const def = this.stages.get(registry.id);
    if (!def) throw new QualityError(`The ${registry.id} registry declares no stage requirements.`, 404);
    if (!def.requirements.some((r) => r.nr === a.nr))
      throw new QualityError(`Requirement ${a.nr} is not declared; the requirements are ${def.requirements.map((r) => r.nr).join(', ')}.`);
    if (typeof a.answer !== 'boolean') throw new QualityError('answer must be true or false.');
    if (a.answer && !a.evidence.trim())
      throw new QualityError('A yes needs a link to the evidence (a page, a report chapter, a document).');
    if (a.evidence.length > 2000 || a.note.length > 4000) throw new QualityError('The evidence link or the note is too long.');
    await this.data.transaction(caller, 'stage:answer', async (tx) => {
      tx.requireUnit(registry.id, null, ['registry-admin', 'platform-admin'], { object: `registry/${registry.id}/stage`, personId: null });
    });
    await this.data.transaction(PLATFORM, 'stage:answer', async (tx) => {
      await tx.client.query(
        'INSERT INTO stage_answer (registry, year, nr, answer, evidence, note, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [registry.id, a.year, a.nr, a.answer, a.evidence.trim(), a.note, callerLabel(caller)],
      );
    });
    return this.stage(registry, a.year);
  }

  private npr(registry: Registry) {
    const d = this.need(registry);
    if (!d.def.npr) throw new QualityError(`The ${registry.id} registry declares no NPR selection (quality.yaml npr).`, 404);
    return { def: d.def.npr, columns: new Map(analyticsColumns(registry).map((c) => [c.name, c.type])) as Map<string, VariableType> };
  }

  /** Imports an NPR extract for the registry (its admins), then links it. Refused whole, with every problem, when a row is wrong. */
  async importNpr(
    caller: Caller,
    registry: Registry,
    csv: string,
    keys: IdentityKeys,
    o: { source: string; allowTestIdentities?: boolean; dryRun?: boolean; client?: string },
  ): Promise<ImportResult & { coverage: number }> {
    const { def } = this.npr(registry);
    // Who may: checked as the caller (refusals audited). The work runs as the platform: it must
    // see every reservation, which only the platform may.
    await this.data.transaction(
      caller,
      'npr:import',
      async (tx) => {
        tx.requireUnit(registry.id, null, NPR_IMPORTERS, { object: `registry/${registry.id}/npr-extract`, personId: null });
      },
      { client: o.client },
    );
    const result = await this.data.transaction(
      PLATFORM,
      'npr:import',
      async (tx) => {
        try {
          return await importExtract(tx, registry, def, csv, keys, {
            source: o.source,
            actor: callerLabel(caller),
            allowTestIdentities: o.allowTestIdentities,
            dryRun: o.dryRun,
          });
        } catch (err) {
          throw err instanceof NprError ? new QualityError(`Cannot import the NPR extract: ${err.message}`, 422) : err;
        }
      },
      { client: o.client },
    );
    if (result.extractId !== null) await this.checkPersons(registry, o.client);
    const rows = o.dryRun ? [] : await this.computeCoverage(registry);
    return { ...result, coverage: rows.length };
  }

  /** Links the registry's cases with its NPR episodes now and stores the coverage of every unit and year. */
  /**
   * The persons of every extract not yet looked up again after its import (relinkExtract): right
   * after an import, and before the linkage or the worklist reads episodes, in case a stop came
   * between an import and its look-up.
   */
  private async checkPersons(registry: Registry, client?: string): Promise<void> {
    const pending = await this.data.transaction(PLATFORM, 'npr:persons', (tx) => uncheckedExtracts(tx, registry.id), { readOnly: true });
    for (const id of pending) await this.data.transaction(PLATFORM, 'npr:persons', (tx) => relinkExtract(tx, id), { client });
  }

  async computeCoverage(registry: Registry): Promise<CoverageRow[]> {
    const { def, columns } = this.npr(registry);
    await this.checkPersons(registry);
    return this.data.transaction(PLATFORM, 'npr:coverage', async (tx) => {
      const rows = await computeCoverage(tx, registry, def, columns);
      this.coverageState.set(registry.id, await this.coverageKey(tx, registry));
      return rows;
    });
  }

  private async coverageKey(tx: PersonTx, registry: Registry): Promise<string> {
    const {
      rows: [r],
    } = await tx.client.query(
      `SELECT (SELECT version FROM analytics_state WHERE registry = $1) AS v, (SELECT max(id) FROM npr_extract WHERE registry = $1) AS x,
      (SELECT coalesce(sum(episodes), 0) FROM npr_reserved WHERE registry = $1) AS r`,
      [registry.id],
    );
    return `${r.v}|${r.x}|${r.r}`;
  }

  /** Coverage as stored, recomputed first when the analytics data, the extract or the reservations changed since. */
  async coverageRows(registry: Registry): Promise<CoverageRow[]> {
    this.npr(registry);
    const key = await this.data.transaction(PLATFORM, 'npr:coverage', (tx) => this.coverageKey(tx, registry), { readOnly: true });
    if (key !== this.coverageState.get(registry.id) && !key.includes('|null|')) return this.computeCoverage(registry);
    return this.data.transaction(PLATFORM, 'npr:coverage', (tx) => storedCoverage(tx.client, registry.id), { readOnly: true });
  }

  /**
   * The coverage indicator beside indicator results (coverage-link.ts), as the public pages read it:
   * the published `coverage` table (NPR linkage or an imported coverage file) and the registry's low
   * threshold (60 % without a quality declaration). The NPR linkage is brought up to date first, so a
   * report made after new registrations marks what the web shows.
   */
  async resultCoverage(registry: Registry): Promise<{ low: number; of: (unit: string, period: string) => ResultCoverage | null }> {
    if (this.defs.get(registry.id)?.def.npr) await this.coverageRows(registry);
    const index = await this.data.transaction(PLATFORM, 'quality:result-coverage', (tx) => coverageIndex(tx.client, registry.id), {
      readOnly: true,
    });
    const low = this.has(registry.id) ? this.thresholds(registry).coverage.low : DEFAULT_LOW_COVERAGE;
    return { low, of: (unit, period) => coverageFor(index, unit, period, low) };
  }

  /**
   * Coverage for a unit and its units one level down, every year: counts shown in full only within
   * the caller's own units (null for the public); elsewhere counts under the small-count threshold
   * are withheld (discloseCount), and a coverage computed from too few episodes with them.
   */
  async coverage(
    caller: Caller | null,
    registry: Registry,
    q: { unit: string },
  ): Promise<{ registry: string; unit: string; thresholds: Thresholds['coverage']; rows: CoverageView[] }> {
    if (!this.units.has(q.unit)) throw new QualityError(`Unknown unit "${q.unit}": give the RESH id of a unit.`);
    const all = await this.coverageRows(registry);
    const visible = caller
      ? await this.data.transaction(
          caller,
          'quality:coverage',
          async (tx) => {
            const s = tx.unitsFor(registry.id, QUALITY_READERS);
            return s === null ? null : new Set(s);
          },
          { readOnly: true },
        )
      : new Set<string>();
    const t = this.thresholds(registry).coverage;
    const unit = this.units.get(q.unit)!;
    const wanted = new Set([
      q.unit,
      ...this.units
        .all()
        .filter((u) => u.parent === q.unit)
        .map((u) => u.resh),
    ]);
    const small = registry.meta.smallCountThreshold;
    const rows = all
      .filter((r) => wanted.has(r.unit))
      .map((r): CoverageView => {
        const u = this.units.get(r.unit)!;
        const own = visible === null || visible.has(r.unit);
        const view: CoverageView = { ...r, name: u.nameNb, level: u.level, low: r.coverage !== null && r.coverage < t.low };
        if (own) return view;
        const counts = ['bothNpr', 'bothRegistry', 'onlyNpr', 'onlyRegistry', 'reserved'] as const;
        const shown = Object.fromEntries(counts.map((k) => [k, discloseCount(r[k], small)])) as Record<
          (typeof counts)[number],
          number | null
        >;
        const denominator = r.bothNpr + r.onlyNpr + r.onlyRegistry + r.reserved;
        const tooFew = discloseCount(denominator, small) === null;
        return {
          ...view,
          ...shown,
          ...(tooFew ? { coverage: null, coverageExcludingReserved: null, registryVsNpr: null, nprVsRegistry: null, low: false } : {}),
          withheld: tooFew || counts.some((k) => shown[k] === null && r[k] !== 0),
        };
      });
    void unit;
    return { registry: registry.id, unit: q.unit, thresholds: t, rows };
  }

  /** The "only in NPR" worklist of a unit's hospitals for a year: episodes no case links with, with identity numbers; audited; paged. */
  async onlyInNpr(
    caller: Caller,
    registry: Registry,
    q: { unit: string; year: number; after: number; limit: number; client?: string },
  ): Promise<{ episodes: OnlyInNpr[]; next: number | null }> {
    const { def, columns } = this.npr(registry);
    const u = this.units.get(q.unit);
    if (!u) throw new QualityError(`Unknown unit "${q.unit}": give the RESH id of a unit.`);
    // NPR names hospitals: a department's worklist is its hospital's.
    const hospitals =
      u.level === 'department' ? [u.parent!] : this.units.descendants(q.unit).filter((r) => this.units.get(r)!.level === 'hospital');
    await this.data.transaction(
      caller,
      'npr:worklist',
      async (tx) => {
        tx.requireUnit(registry.id, q.unit, QUALITY_WRITERS, { object: `registry/${registry.id}/npr-worklist`, personId: null });
      },
      { readOnly: true, client: q.client },
    );
    await this.checkPersons(registry, q.client);
    const page = await this.data.transaction(
      PLATFORM,
      'npr:worklist',
      (tx) => unlinkedEpisodes(tx, registry, def, columns, { hospitals, year: q.year, after: q.after, limit: q.limit }),
      { readOnly: true },
    );
    return this.data.transaction(
      caller,
      'npr:worklist',
      async (tx) => {
        const { episodes, personIds } = await readEpisodes(tx, registry, page.ids, this.keys!);
        tx.audit({
          action: 'read',
          object: `registry/${registry.id}/npr-worklist/${q.unit}/${q.year}`,
          personIds,
          unit: q.unit,
          registry: registry.id,
        });
        return { episodes, next: page.next };
      },
      { readOnly: true, client: q.client },
    );
  }

  private keys: IdentityKeys | undefined;
  /** The identity keys, for the worklist's identity numbers. */
  useKeys(keys: IdentityKeys): void {
    this.keys = keys;
  }

  has(registry: string): boolean {
    return this.defs.has(registry);
  }
  definition(registry: string): QualityDef | undefined {
    return this.defs.get(registry)?.def;
  }
  checks(registry: string): CheckSet | undefined {
    return this.defs.get(registry)?.set;
  }
  thresholds(registry: Registry): Thresholds {
    return this.thresholdFiles.read(registry);
  }

  private need(registry: Registry) {
    const d = this.defs.get(registry.id);
    if (!d) throw new QualityError(`The ${registry.id} registry declares no data quality (registries/${registry.id}/quality.yaml).`, 404);
    return d;
  }

  /**
   * The counted checks, from cache while the analytics data and the date are unchanged. The version
   * is read in a transaction of its own, and the measuring (or the wait for it) holds no connection:
   * callers that each held one while waiting for a measurement that needs one more would empty the
   * pool, every party waiting.
   */
  async measured(registry: Registry, dataset: 'fresh' | 'qa' = 'fresh'): Promise<Measured> {
    const { set } = this.need(registry);
    const asOf = osloDate(new Date().toISOString());
    const version = await this.data.transaction(PLATFORM, 'quality:measure', (tx) => analyticsVersion(tx.client, registry.id), {
      readOnly: true,
    });
    const key = `${registry.id}|${dataset}|${version}|${asOf}`;
    let hit = this.cache.get(key);
    if (!hit) {
      for (const k of this.cache.keys()) if (k.startsWith(`${registry.id}|${dataset}|`)) this.cache.delete(k);
      hit = this.data.transaction(
        PLATFORM,
        'quality:measure',
        (tx) => measure(tx, registry, set, this.units, { dataset, asOf, analyticsVersion: version }),
        { readOnly: true },
      );
      hit.catch(() => this.cache.delete(key));
      this.cache.set(key, hit);
      hit.then((m) => this.log.debug({ registry: registry.id, ms: m.durationMs }, 'data quality measured')).catch(() => undefined);
    }
    return hit;
  }

  /** The report for one unit and year, judged now; the caller's own units in full, others' small counts withheld. */
  async report(
    caller: Caller,
    registry: Registry,
    q: { unit: string; year: number; dataset?: 'fresh' | 'qa'; expectedExtra?: (year: number) => Set<string> },
  ): Promise<QualityReport & { findings: Finding[] }> {
    const { set } = this.need(registry);
    if (!this.units.has(q.unit)) throw new QualityError(`Unknown unit "${q.unit}": give the RESH id of a unit.`);
    const m = await this.measured(registry, q.dataset ?? 'fresh');
    const visible = await this.data.transaction(
      caller,
      'quality:report',
      async (tx) => {
        const scope = tx.unitsFor(registry.id, QUALITY_READERS);
        return scope === null ? null : new Set(scope);
      },
      { readOnly: true },
    );
    const report = judge(m, set, this.units, {
      unit: q.unit,
      year: q.year,
      thresholds: this.thresholds(registry),
      smallCount: registry.meta.smallCountThreshold,
      visible,
      expectedExtra: q.expectedExtra,
    });
    return { ...report, findings: await this.findings(registry, report) };
  }

  /**
   * The report as the public sees it (the annual report): every unit's small counts withheld, as
   * for a caller with no units of its own.
   */
  async publicReport(registry: Registry, q: { unit: string; year: number; dataset?: 'fresh' | 'qa' }): Promise<QualityReport> {
    const { set } = this.need(registry);
    const m = await this.measured(registry, q.dataset ?? 'fresh');
    return judge(m, set, this.units, {
      unit: q.unit,
      year: q.year,
      thresholds: this.thresholds(registry),
      smallCount: registry.meta.smallCountThreshold,
      visible: new Set(),
    });
  }

  /** The correctness studies (re-abstraction) of a year with their agreement per variable (aggregates only), for the annual report. */
  async studiesOfYear(registry: Registry, year: number) {
    const set = this.defs.get(registry.id)?.set;
    if (!set) return [];
    return this.data.transaction(
      PLATFORM,
      'quality:validation',
      async (tx) => {
        const { rows } = await tx.client.query('SELECT id FROM validation_study WHERE registry = $1 AND year = $2 ORDER BY id', [
          registry.id,
          year,
        ]);
        const out = [];
        for (const r of rows) out.push(await agreement(tx, registry, Number(r.id), set.periodSql));
        return out;
      },
      { readOnly: true },
    );
  }

  /** The findings of a report (checks not judged good, or good with failures; outliers), with their follow-up. */
  async findings(registry: Registry, report: QualityReport): Promise<Finding[]> {
    const open = [
      ...[...report.completeness, ...report.validity, ...report.consistency]
        .filter((r) => r.verdict === 'acceptable' || r.verdict === 'poor' || (r.verdict === 'good' && (r.failures ?? 0) > 0))
        .map((r) => ({ key: r.key, label: r.label, verdict: r.verdict, failures: r.failures })),
      ...(report.timeliness
        ? [report.timeliness.registration, report.timeliness.finalisation]
            .filter((x) => x.verdict === 'acceptable' || x.verdict === 'poor')
            .map((x) => ({
              key: x.key,
              label: x.label,
              verdict: x.verdict,
              failures: x.n !== null && x.within !== null ? x.n - x.within : null,
            }))
        : []),
      ...report.outliers
        .filter((o) => o.unit.resh === report.unit.resh)
        .map((o) => ({ key: `outlier/${o.family}`, label: o.label, verdict: 'outlier', failures: null })),
    ];
    const history = await this.history(registry.id, report.unit.resh, String(report.year));
    return open.map((f) => {
      const h = history.get(f.key) ?? [];
      return { ...f, status: h.length ? h[h.length - 1].status : 'open', history: h };
    });
  }

  private async history(registry: string, unit: string, period: string, finding?: string): Promise<Map<string, FollowUp[]>> {
    const rows = await this.data.transaction(
      PLATFORM,
      'quality:follow-up',
      async (tx) =>
        (
          await tx.client.query(
            `SELECT finding, status, note, actor, at FROM quality_followup WHERE registry = $1 AND unit_resh = $2 AND period = $3 ${finding ? 'AND finding = $4' : ''} ORDER BY id`,
            finding ? [registry, unit, period, finding] : [registry, unit, period],
          )
        ).rows,
      { readOnly: true },
    );
    const out = new Map<string, FollowUp[]>();
    for (const r of rows)
      out.set(r.finding, [
        ...(out.get(r.finding) ?? []),
        { status: r.status, note: r.note, actor: r.actor, at: new Date(r.at).toISOString() },
      ]);
    return out;
  }

  /** Marks a finding followed up, resolved or open again, with a note; kept as history. The unit's registrars and the registry's admins may. */
  async followUp(
    caller: Caller,
    registry: Registry,
    f: { finding: string; unit: string; year: number; status: FollowUpStatus; note: string },
  ): Promise<FollowUp[]> {
    this.need(registry);
    if (!this.units.has(f.unit)) throw new QualityError(`Unknown unit "${f.unit}": give the RESH id of a unit.`);
    if (!FOLLOW_UP_STATUSES.includes(f.status)) throw new QualityError(`status must be one of ${FOLLOW_UP_STATUSES.join(', ')}.`);
    if (!/^(completeness|validity|consistency|timeliness|outlier|coverage)\/[A-Za-z0-9_./-]+$/.test(f.finding))
      throw new QualityError(`"${f.finding}" is not a finding: use the key of a check from the report (e.g. completeness/injury_energy).`);
    if (f.note.length > 4000) throw new QualityError('The note is too long: at most 4,000 characters.');
    await this.data.transaction(caller, 'quality:follow-up', async (tx) => {
      tx.requireUnit(registry.id, f.unit, QUALITY_WRITERS, { object: `registry/${registry.id}/quality/${f.finding}`, personId: null });
      await tx.client.query(
        'INSERT INTO quality_followup (registry, finding, unit_resh, period, status, note, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [registry.id, f.finding, f.unit, String(f.year), f.status, f.note, callerLabel(caller)],
      );
    });
    return (await this.history(registry.id, f.unit, String(f.year), f.finding)).get(f.finding) ?? [];
  }

  /**
   * The cases behind a finding at a unit in a year: those failing the check, within the caller's
   * units (row-level security and the unit check), one audit event per person, `limit` at a time
   * after the case id `after` — every page can be reached, there is no cap on the total.
   */
  async cases(
    caller: Caller,
    registry: Registry,
    q: { finding: string; unit: string; year: number; after: number; limit: number; dataset?: 'fresh' | 'qa'; client?: string },
  ): Promise<{ cases: CaseRow[]; next: number | null }> {
    const { set } = this.need(registry);
    if (!this.units.has(q.unit)) throw new QualityError(`Unknown unit "${q.unit}": give the RESH id of a unit.`);
    let predicate: string,
      valueSql = 'NULL';
    // `completeness/<variable>#unknown`: the cases given a declared "unknown" code.
    const [base, variant] = q.finding.split('#');
    const check = set.checks.find((c) => checkKey(c) === base);
    if (check?.kind === 'completeness' && variant === 'unknown' && check.unknown) predicate = `${check.eligible} AND ${check.unknown}`;
    else if (check?.kind === 'completeness' && !variant) predicate = `${check.eligible} AND NOT (${check.present})`;
    else if (check && check.kind !== 'completeness' && !variant) {
      predicate = `${check.checked} AND ${check.failing}`;
      if (check.kind === 'validity') valueSql = `a."${check.variable}"::text`;
    } else if (q.finding === 'timeliness/registration' && set.timeliness) {
      predicate = `${set.timeliness.registration} > ${set.timeliness.registrationDays}`;
      valueSql = set.timeliness.registration;
    } else if (q.finding === 'timeliness/finalisation' && set.timeliness) {
      predicate = `(NOT a.finalised OR ${set.timeliness.finalisation} > ${set.timeliness.finalisationDays})`;
      valueSql = set.timeliness.finalisation;
    } else throw new QualityError(`"${q.finding}" is not a check of the ${registry.id} registry that has cases behind it.`, 404);
    // The check's predicate numbers its parameters within the whole check set: take only those it uses, renumbered.
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const used = new Map<string, string>();
    const renumber = (text: string) =>
      text.replace(/\$(\d+)/g, (_, n: string) => {
        if (!used.has(n)) used.set(n, p(set.params[Number(n) - 1]));
        return used.get(n)!;
      });
    const where = renumber(predicate),
      value = renumber(valueSql);
    let asOfParam: string | undefined;
    const asOf = () => (asOfParam ??= p(osloDate(new Date().toISOString())));
    const sql = `SELECT a.case_id, a.person_id, a.unit_resh, ${set.periodSql}::text AS period_date, ${value.includes('$AS_OF') ? value.replace(/\$AS_OF/g, asOf()) : value} AS value
      FROM ${analyticsTable(registry)} a
      WHERE a.unit_path @> ARRAY[${p(q.unit)}]::text[] AND extract(year FROM ${set.periodSql}) = ${p(q.year)} AND a.case_id > ${p(q.after)}
        ${q.dataset === 'qa' ? 'AND a.finalised' : ''} AND (${where.includes('$AS_OF') ? where.replace(/\$AS_OF/g, asOf()) : where})
      ORDER BY a.case_id LIMIT ${p(q.limit + 1)}`;
    return this.data.transaction(
      caller,
      'quality:cases',
      async (tx: PersonTx) => {
        tx.requireUnit(registry.id, q.unit, QUALITY_READERS, { object: `registry/${registry.id}/quality/${q.finding}`, personId: null });
        const { rows } = await tx.client.query(sql, params);
        const page = rows.slice(0, q.limit);
        tx.audit({
          action: 'read',
          object: `registry/${registry.id}/quality/${q.finding}/cases`,
          personIds: page.map((r) => Number(r.person_id)),
          unit: q.unit,
          registry: registry.id,
        });
        return {
          cases: page.map((r) => ({ caseId: Number(r.case_id), unit: r.unit_resh, periodDate: r.period_date, value: r.value })),
          next: rows.length > q.limit ? Number(page[page.length - 1].case_id) : null,
        };
      },
      { readOnly: true, client: q.client },
    );
  }
}
