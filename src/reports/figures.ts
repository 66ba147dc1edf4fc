// The figures a registry offers: one per declared analysis, and two per indicator (all units
// compared; the unit against its region and the nation over time). Each is a chart spec plus rows,
// built from aggregates only: indicator results (small counts already withheld) and the analyses'
// suppressed counts. Tables of the same rows as CSV and XLSX.
import { stringify } from 'csv-stringify/sync';
import ExcelJS from 'exceljs';
import type { PersonData } from '../access/door.ts';
import type { Indicator } from '../indicators/load.ts';
import type { IndicatorResult, Indicators } from '../indicators/service.ts';
import type { Registry } from '../registry/load.ts';
import type { Unit, UnitTree } from '../units/tree.ts';
import type { Queryable } from '../db/pool.ts';
import { AnalysisError, computeAnalysis, loadAnalyses, type Analyses } from './analyses.ts';
import { AnalysisTables, type YearTables } from './analysis-tables.ts';
import { computeComparison, type Comparison, type Side } from './comparison.ts';
import type { Column, Figure, Lang, Row } from './charts.ts';
import { KvalregError, kindOfStatus } from '../errors.ts';

export type UnitLevel = Unit['level'];
export const UNIT_LEVELS: UnitLevel[] = ['nation', 'region', 'trust', 'hospital', 'department'];

export interface FigureQuery {
  year: string;
  /** The unit the figure is about (analyses) or highlights (indicators); default the nation. */
  unit?: string;
  /** For the units figure: which level of units to compare (default hospital). */
  level?: UnitLevel;
  grain?: 'year' | 'quarter';
  dataset: 'fresh' | 'qa';
  lang: Lang;
  /** For analyses: the unit beside the rest of the country, its region or the nation. */
  compare?: Comparison;
}

export interface FigureInfo {
  id: string;
  kind: 'analysis' | 'indicator-units' | 'indicator-trend';
  title: string;
  indicator?: string;
}

/** A request for a figure that cannot be answered as asked (unknown figure, unit, no population): HTTP 400/404. */
export class FigureError extends KvalregError {
  constructor(message: string, status = 400) {
    super(kindOfStatus(status), message);
  }
  get status(): number {
    return this.httpStatus;
  }
}

export class Figures {
  private readonly analyses = new Map<string, Analyses>();
  private readonly tables: AnalysisTables;

  constructor(
    private readonly data: PersonData,
    pool: Queryable,
    registries: Registry[],
    private readonly indicators: Indicators,
    private readonly units: UnitTree,
  ) {
    for (const r of registries) this.analyses.set(r.id, loadAnalyses(r));
    this.tables = new AnalysisTables(data, pool, units);
  }

  analysesOf(registry: Registry): Analyses {
    return this.analyses.get(registry.id)!;
  }

  /** The year's counts of every analysis for every unit, with the disclosure decision over all of them. */
  yearTables(registry: Registry, year: string, dataset: 'fresh' | 'qa'): Promise<YearTables> {
    return this.tables.get(registry, this.analysesOf(registry), year, dataset);
  }

  list(registry: Registry, lang: Lang): FigureInfo[] {
    const out: FigureInfo[] = this.analysesOf(registry).list.map((a) => ({ id: a.id, kind: 'analysis' as const, title: a.title[lang] }));
    for (const ind of this.indicators.list(registry.id)) {
      out.push({
        id: `units-${ind.def.id}`,
        kind: 'indicator-units',
        title: `${ind.def.number}. ${ind.def.title[lang]}: ${lang === 'nb' ? 'enhetene' : 'the units'}`,
        indicator: ind.def.id,
      });
      out.push({
        id: `trend-${ind.def.id}`,
        kind: 'indicator-trend',
        title: `${ind.def.number}. ${ind.def.title[lang]}: ${lang === 'nb' ? 'over tid' : 'over time'}`,
        indicator: ind.def.id,
      });
    }
    return out;
  }

  private unitOf(resh: string | undefined): Unit {
    const u = this.units.get(resh ?? this.indicators.nation());
    if (!u) throw new FigureError(`Unknown unit "${resh}": give the RESH id of a unit.`);
    return u;
  }

  /**
   * The other side of a comparison for `unit`: the rest of the country (the nation minus the unit;
   * for incidence, minus the unit's catchment area, whose population it has), its region, or the nation.
   */
  private comparisonSide(unit: Unit, ownAreas: string[], compare: Comparison, lang: Lang, incidence: boolean): Side {
    const nation = this.unitOf(undefined);
    if (unit.resh === nation.resh)
      throw new FigureError(
        lang === 'nb'
          ? 'Velg en enhet å sammenligne: landet kan ikke sammenlignes med seg selv.'
          : 'Choose a unit to compare: the nation cannot be compared with itself.',
      );
    const everywhere = this.units.descendants(nation.resh);
    if (compare === 'nation') return { label: unitName(nation, lang, this.units), unit: nation.resh, minus: null, areas: everywhere };
    if (compare === 'rest') {
      const area =
        incidence && (unit.level === 'hospital' || unit.level === 'department')
          ? (this.units.ancestorAt(unit.resh, 'trust')?.resh ?? unit.resh)
          : unit.resh;
      return {
        label: lang === 'nb' ? 'Resten av landet' : 'Rest of the country',
        unit: nation.resh,
        minus: area,
        areas: everywhere.filter((r) => !ownAreas.includes(r)),
      };
    }
    const region = this.units.ancestorAt(unit.resh, 'region');
    if (!region || region.resh === unit.resh)
      throw new FigureError(
        lang === 'nb'
          ? `${unitName(unit, lang, this.units)} er selv en region: sammenlign med resten av landet eller landet.`
          : `${unitName(unit, lang, this.units)} is itself a region: compare with the rest of the country or the nation.`,
      );
    return { label: unitName(region, lang, this.units), unit: region.resh, minus: null, areas: this.units.descendants(region.resh) };
  }

  async figure(registry: Registry, id: string, q: FigureQuery): Promise<Figure> {
    const a = this.analysesOf(registry).list.find((x) => x.id === id);
    if (a) {
      const unit = this.unitOf(q.unit);
      // A catchment population belongs to a health trust: a hospital or department has its trust's,
      // a region or the nation the sum of the trusts under it.
      const areaUnits =
        unit.level === 'hospital' || unit.level === 'department'
          ? [this.units.ancestorAt(unit.resh, 'trust')?.resh ?? unit.resh]
          : this.units.descendants(unit.resh);
      try {
        const tables = await this.yearTables(registry, q.year, q.dataset);
        if (q.compare) {
          const own: Side = { label: unitName(unit, q.lang, this.units), unit: unit.resh, minus: null, areas: areaUnits };
          const incidence = typeof a.measure === 'object' && 'incidence' in a.measure;
          return await computeComparison(
            this.data,
            registry,
            this.analysesOf(registry),
            a,
            {
              year: q.year,
              dataset: q.dataset,
              lang: q.lang,
              unitName: own.label,
              compare: q.compare,
              unit: own,
              other: this.comparisonSide(unit, areaUnits, q.compare, q.lang, incidence),
            },
            tables,
          );
        }
        return await computeAnalysis(
          this.data,
          registry,
          this.analysesOf(registry),
          a,
          { year: q.year, unit: unit.resh, unitName: unitName(unit, q.lang, this.units), dataset: q.dataset, lang: q.lang, areaUnits },
          tables,
        );
      } catch (err) {
        if (err instanceof AnalysisError) throw new FigureError(err.message, 422);
        throw err;
      }
    }
    const m = /^(units|trend)-(.+)$/.exec(id);
    const ind = m ? this.indicators.get(registry.id, m[2]) : undefined;
    if (!m || !ind)
      throw new FigureError(`Registry ${registry.id} has no figure "${id}"; GET /api/registries/${registry.id}/figures lists them.`, 404);
    return m[1] === 'units' ? this.unitsFigure(registry, ind, q) : this.trendFigure(registry, ind, q);
  }

  /** Every unit at a level compared, the nation first, with intervals, the target and level symbols. */
  async unitsFigure(registry: Registry, ind: Indicator, q: FigureQuery): Promise<Figure> {
    const l = q.lang;
    const level = q.level ?? 'hospital';
    const nation = this.indicators.nation();
    const [national, atLevel] = await Promise.all([
      this.indicators.results(registry, { indicator: ind.def.id, grain: 'year', period: q.year, units: [nation], dataset: q.dataset }),
      this.indicators.results(registry, { indicator: ind.def.id, grain: 'year', period: q.year, level, dataset: q.dataset }),
    ]);
    // Units without cases say nothing in a comparison; the highlighted unit is kept whatever it has.
    const rows = atLevel.filter((r) => r.unit.resh !== nation && (r.status !== 'not-computable' || r.unit.resh === q.unit));
    rows.sort((a, b) => (b.proportion ?? -1) - (a.proportion ?? -1) || String(a.unit.name).localeCompare(String(b.unit.name), 'nb'));
    const data = [...withoutPendingDuplicates(national).slice(0, 1), ...rows].map((r) => resultRow(r, this.units, l));
    return {
      spec: {
        kind: 'unit-bars',
        lang: l,
        title: `${ind.def.number}. ${ind.def.title[l]} – ${q.year}`,
        description: indicatorCaption(ind, l, q.year, data.length - 1, level),
        note: tooFewNote(ind, l),
        columns: RESULT_COLUMNS(l),
        encoding: { label: 'unit', value: 'proportion', lower: 'lower', upper: 'upper', status: 'status', level: 'level', id: 'resh' },
        target: ind.def.target
          ? { value: ind.def.target.value, label: `${l === 'nb' ? 'Mål' : 'Target'} ${thresholdText(ind.def.target)}` }
          : null,
        highlight: q.unit ?? null,
      },
      data,
    };
  }

  /** The unit, its region and the nation over the last five years (or eight quarters). */
  async trendFigure(registry: Registry, ind: Indicator, q: FigureQuery): Promise<Figure> {
    const l = q.lang;
    const unit = this.unitOf(q.unit);
    const chain = [unit.resh, this.units.ancestorAt(unit.resh, 'region')?.resh, this.indicators.nation()].filter(
      (x, i, all): x is string => !!x && all.indexOf(x) === i,
    );
    const grain = q.grain ?? 'year';
    const periods: string[] = [];
    if (grain === 'year') for (let y = Number(q.year) - 4; y <= Number(q.year); y++) periods.push(String(y));
    else for (let y = Number(q.year) - 1; y <= Number(q.year); y++) for (let k = 1; k <= 4; k++) periods.push(`${y}-Q${k}`);
    const all = await Promise.all(
      periods.map((p) => this.indicators.results(registry, { indicator: ind.def.id, grain, period: p, units: chain, dataset: q.dataset })),
    );
    const names = new Map(chain.map((r) => [r, unitName(this.units.get(r)!, l, this.units)]));
    const data: Row[] = all
      .flat()
      .filter((r) => chain.includes(r.unit.resh) && r.status !== 'definition-pending')
      .map((r) => ({ period: r.period, ...resultRow(r, this.units, l) }));
    return {
      spec: {
        kind: 'lines',
        lang: l,
        title: `${ind.def.number}. ${ind.def.title[l]} – ${chain.map((r) => names.get(r)).join(', ')}`,
        description:
          l === 'nb'
            ? `Andel per ${grain === 'year' ? 'år' : 'kvartal'} ${periods[0]}–${periods[periods.length - 1]} for ${chain.map((r) => names.get(r)).join(', ')}, med 95 % konfidensintervall.`
            : `Proportion per ${grain} ${periods[0]}–${periods[periods.length - 1]} for ${chain.map((r) => names.get(r)).join(', ')}, with 95 % confidence intervals.`,
        note: tooFewNote(ind, l),
        columns: [{ key: 'period', label: l === 'nb' ? 'Periode' : 'Period', format: 'text' }, ...RESULT_COLUMNS(l)],
        encoding: { x: 'period', series: 'unit', value: 'proportion', lower: 'lower', upper: 'upper' },
        series: chain.map((r) => names.get(r)!),
        x: periods,
        yFormat: 'percent',
        target: ind.def.target
          ? { value: ind.def.target.value, label: `${l === 'nb' ? 'Mål' : 'Target'} ${thresholdText(ind.def.target)}` }
          : null,
      },
      data,
    };
  }
}

/**
 * A pending indicator is listed once, as "definition pending": a query for named units also lists
 * it as not computable for each of them, which says less.
 */
export function withoutPendingDuplicates(results: IndicatorResult[]): IndicatorResult[] {
  const pending = new Set(results.filter((r) => r.status === 'definition-pending').map((r) => r.indicator));
  return results.filter((r) => !pending.has(r.indicator) || r.status === 'definition-pending');
}

/** A unit's name; a department's with its hospital's ("Ortopedisk avdeling, X sykehus"), since department names repeat. */
export function unitName(u: Unit, lang: Lang, units?: UnitTree): string {
  const own = (lang === 'en' ? u.nameEn : null) ?? u.nameNb;
  const hospital = u.level === 'department' && u.parent ? units?.get(u.parent) : undefined;
  return hospital ? `${own}, ${(lang === 'en' ? hospital.nameEn : null) ?? hospital.nameNb}` : own;
}

export function thresholdText(t: { operator: string; value: number }): string {
  return `${t.operator} ${Math.round(t.value * 1000) / 10} %`;
}

const STATUS_TEXT = {
  nb: { ok: '', 'too-few': 'for få', 'not-computable': 'ikke beregnbar', 'definition-pending': 'definisjon kommer' },
  en: { ok: '', 'too-few': 'too few', 'not-computable': 'not computable', 'definition-pending': 'definition pending' },
} as const;
const LEVEL_TEXT = {
  nb: { high: 'høy', moderate: 'moderat', low: 'lav' },
  en: { high: 'high', moderate: 'moderate', low: 'low' },
} as const;

export const RESULT_COLUMNS = (l: Lang): Column[] => [
  { key: 'unit', label: l === 'nb' ? 'Enhet' : 'Unit', format: 'text' },
  { key: 'resh', label: 'RESH', format: 'text' },
  { key: 'numerator', label: l === 'nb' ? 'Teller' : 'Numerator', format: 'number' },
  { key: 'denominator', label: l === 'nb' ? 'Nevner' : 'Denominator', format: 'number' },
  { key: 'proportion', label: l === 'nb' ? 'Andel' : 'Proportion', format: 'percent' },
  { key: 'lower', label: l === 'nb' ? 'Nedre 95 %' : 'Lower 95 %', format: 'percent' },
  { key: 'upper', label: l === 'nb' ? 'Øvre 95 %' : 'Upper 95 %', format: 'percent' },
  { key: 'level', label: l === 'nb' ? 'Måloppnåelse' : 'Achievement', format: 'text' },
  { key: 'status', label: 'Status', format: 'text' },
];

export function resultRow(r: IndicatorResult, units: UnitTree, l: Lang): Row {
  const u = units.get(r.unit.resh);
  return {
    unit: u ? unitName(u, l, units) : r.unit.resh,
    resh: r.unit.resh,
    numerator: r.numerator,
    denominator: r.denominator,
    proportion: r.proportion,
    lower: r.interval?.lower ?? null,
    upper: r.interval?.upper ?? null,
    level: r.level,
    levelText: r.level ? LEVEL_TEXT[l][r.level] : null,
    status: r.status,
    statusText: STATUS_TEXT[l][r.status],
  };
}

function indicatorCaption(ind: Indicator, l: Lang, year: string, n: number, level: UnitLevel): string {
  const levelWord = {
    nb: { nation: 'land', region: 'regioner', trust: 'helseforetak', hospital: 'sykehus', department: 'avdelinger' },
    en: { nation: 'nation', region: 'regions', trust: 'health trusts', hospital: 'hospitals', department: 'departments' },
  }[l][level];
  return l === 'nb'
    ? `${ind.def.description.nb} Landet og ${n} ${levelWord} i ${year}, med 95 % konfidensintervall (Wilson). Sirkel = høy, trekant = moderat, firkant = lav måloppnåelse.`
    : `${ind.def.description.en} The nation and ${n} ${levelWord} in ${year}, with 95 % confidence intervals (Wilson). Circle = high, triangle = moderate, square = low achievement.`;
}

function tooFewNote(ind: Indicator, l: Lang): string {
  const numerator = ind.disclosure.numerator === 'suppress';
  return l === 'nb'
    ? `Resultater med nevner under ${ind.minimumDenominator}${numerator ? ` eller teller under ${ind.disclosure.threshold}` : ''}, og resultater som ville avsløre dem, vises ikke («for få»).`
    : `Results with a denominator under ${ind.minimumDenominator}${numerator ? ` or a numerator under ${ind.disclosure.threshold}` : ''}, and results that would give them away, are not shown ("too few").`;
}

/** The figure's rows as a table: the spec's columns, in order, with their labels as the header. */
export function tableCsv(fig: Figure): string {
  const cols = fig.spec.columns;
  return stringify([cols.map((c) => c.label), ...fig.data.map((r) => cols.map((c) => cell(r[c.key], c)))]);
}

export function cell(v: unknown, c: Column): string | number | null {
  if (v === null || v === undefined) return null;
  if (c.format === 'percent' && typeof v === 'number') return Math.round(v * 10000) / 10000;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return v as string | number;
}

export async function tableXlsx(fig: Figure, sheetName?: string): Promise<Buffer> {
  return workbook([
    {
      name: sheetName ?? fig.spec.title,
      title: fig.spec.title,
      note: [fig.spec.description, fig.spec.note].filter(Boolean).join(' '),
      columns: fig.spec.columns,
      rows: fig.data,
    },
  ]);
}

export interface Sheet {
  name: string;
  title: string;
  note?: string;
  columns: Column[];
  rows: Row[];
}

/** An XLSX workbook: per sheet a title line, a note line, then the table with typed cells (percent as percent). */
export async function workbook(sheets: Sheet[]): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'kvalreg';
  const used = new Set<string>();
  for (const s of sheets) {
    // Sheet names: at most 31 characters, none of : \ / ? * [ ], unique.
    let name =
      s.name
        .replace(/[:\\/?*[\]]/g, ' ')
        .slice(0, 31)
        .trim() || 'Ark';
    for (let i = 2; used.has(name); i++) name = `${name.slice(0, 28)} ${i}`;
    used.add(name);
    const ws = wb.addWorksheet(name);
    ws.addRow([s.title]).font = { bold: true, size: 13 };
    if (s.note) ws.addRow([s.note]).font = { italic: true };
    const head = ws.addRow(s.columns.map((c) => c.label));
    head.font = { bold: true };
    for (const r of s.rows) ws.addRow(s.columns.map((c) => cell(r[c.key], c)));
    s.columns.forEach((c, i) => {
      const col = ws.getColumn(i + 1);
      col.width = Math.max(10, Math.min(40, c.label.length + 4));
      if (c.format === 'percent') col.numFmt = '0.0%';
      if (c.format === 'decimal') col.numFmt = '0.0';
    });
  }
  return Buffer.from(await wb.xlsx.writeBuffer());
}
