// The annual report, and the unit and indicator reports sent to subscribers, as PDF. Structure
// follows the national annual-report template (summary, indicators with definition, target,
// computation, result and figure; PROM; other analyses; registry description; data quality; stage
// assessment), built from data and declarations plus the prose the registry writes in Markdown in
// its folder (`registries/<id>/report/*.md`, `report.yaml`, `stage-assessment.yaml`).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { PersonData } from '../access/door.ts';
import type { Indicator } from '../indicators/load.ts';
import type { IndicatorResult, Indicators } from '../indicators/service.ts';
import { definitionLines } from '../indicators/text.ts';
import { DefinitionError, type Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Column, Lang, Row } from './charts.ts';
import { FigureError, RESULT_COLUMNS, resultRow, withoutPendingDuplicates, thresholdText, unitName, type Figures } from './figures.ts';
import { defaultFormat, formatPercent, ReportWriter } from './pdf.ts';
import type { Quality } from '../quality/service.ts';
import { dataQualitySections, stageSection } from './quality-chapters.ts';
import { LOW_COVERAGE_LABEL, type ResultCoverage } from '../quality/coverage-link.ts';

export interface ReportContext {
  data: PersonData;
  indicators: Indicators;
  units: UnitTree;
  figures: Figures;
  /** Data quality (coverage, completeness, timeliness, validation, stage): chapters 4 and 5. */ quality?: Quality;
}

const reportConfigSchema = z
  .object({
    /** The unit the "other analyses" are about (default the nation): e.g. the area with complete reporting. */
    analysesUnit: z.string().optional(),
    /** The level of units compared in each indicator's table and figure. */
    unitLevel: z.enum(['region', 'trust', 'hospital', 'department']).default('hospital'),
  })
  .strict();
const stageSchema = z
  .object({
    year: z.number().int(),
    items: z.array(
      z
        .object({
          nr: z.number().int(),
          stage: z.union([z.literal(2), z.literal(3), z.literal(4)]),
          text: z.string(),
          chapter: z.string(),
          answer: z.boolean(),
        })
        .strict(),
    ),
    level: z.enum(['A', 'B', 'C']),
    levelText: z.string().optional(),
  })
  .strict();

function readText(registry: Registry, name: string): string | null {
  const f = path.join(registry.dir, 'report', name);
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : null;
}
function readYamlFile<T>(registry: Registry, name: string, schema: z.ZodType<T>): T | null {
  const f = path.join(registry.dir, 'report', name);
  if (!fs.existsSync(f)) return null;
  const parsed = schema.safeParse(YAML.parse(fs.readFileSync(f, 'utf8')));
  if (!parsed.success)
    throw new DefinitionError(
      parsed.error.issues.map((i) => `${path.relative(process.cwd(), f)}: ${i.path.join('.') || '(top)'}: ${i.message}`),
    );
  return parsed.data;
}

const NO_TEXT = 'Registeret har ikke skrevet tekst for dette avsnittet ennå.';
const STATUS_NB: Record<IndicatorResult['status'], string> = {
  ok: '',
  'too-few': 'for få til å vises',
  'not-computable': 'ikke beregnbar (ingen i nevneren)',
  'definition-pending': 'definisjonen kommer',
};
const pct = (p: number, lang: Lang = 'nb') => formatPercent(p, lang);
const STATUS_EN: Record<IndicatorResult['status'], string> = {
  ok: '',
  'too-few': 'too few to show',
  'not-computable': 'not computable (none in the denominator)',
  'definition-pending': 'definition pending',
};
const LEVEL_NB = { high: 'høy', moderate: 'moderat', low: 'lav' } as const;

function resultSentence(r: IndicatorResult | undefined): string {
  if (!r) return 'Ingen resultat.';
  if (r.status !== 'ok') return `Resultat: ${STATUS_NB[r.status]}.`;
  const ci = r.interval ? ` (95 % KI ${pct(r.interval.lower)}–${pct(r.interval.upper)})` : '';
  return `Resultat: ${pct(r.proportion!)}${ci}, ${r.numerator} av ${r.denominator}.${r.level ? ` Måloppnåelse: ${LEVEL_NB[r.level]}.` : ''}${r.targetMet === null ? '' : r.targetMet ? ' Målet er nådd.' : ' Målet er ikke nådd.'}`;
}

/**
 * The quality-assured dataset holds only finalised registrations: when most of the year's are not
 * finalised yet, its indicators describe a small, chosen part of the year, and the report says so.
 * A finalised count disclosure control withholds (under the threshold) is said as "fewer than".
 */
export function finalisedWarning(
  quality: Array<{ n: number; finalised: number }>,
  dataset: 'fresh' | 'qa',
  year: string,
  withheldUnder?: number,
): string[] {
  const n = quality.reduce((s, q) => s + q.n, 0),
    finalised = quality.reduce((s, q) => s + q.finalised, 0);
  if (dataset !== 'qa' || n === 0 || finalised / n >= 0.5) return [];
  const how =
    withheldUnder === undefined
      ? `bare ${finalised} av ${n} registreringer (${pct(finalised / n)})`
      : `færre enn ${withheldUnder} av ${n} registreringer`;
  return [
    `Advarsel: ${how} for ${year} er ferdigstilt. Det kvalitetssikrede datasettet bygger bare på de ferdigstilte, så indikatorene her kan mangle eller være skjeve. Ferdigstill komplette registreringer, eller lag rapporten fra det ferske datasettet.`,
  ];
}

type CoverageOf = (unit: string, period: string) => ResultCoverage | null;

/**
 * The coverage indicator beside each unit's result (quality/coverage-link.ts, the rule and table the
 * web results, the publishing CSV and the hospital profile use): a result whose unit's coverage
 * against NPR is under the low threshold is greyed and marked "Lav dekningsgrad".
 */
async function resultCoverage(ctx: ReportContext, registry: Registry): Promise<{ low: number; of: CoverageOf } | null> {
  return ctx.quality ? ctx.quality.resultCoverage(registry) : null;
}
function withCoverage(rows: Row[], cov: { of: CoverageOf } | null, period: string): Row[] {
  return rows.map((r) => {
    const c = cov?.of(String(r.resh), period) ?? null;
    return { ...r, coverage: c?.value ?? null, lowCoverage: c?.low ?? false };
  });
}
const COVERAGE_COLUMN = (l: Lang): Column => ({ key: 'coverage', label: l === 'nb' ? 'Dekningsgrad' : 'Coverage', format: 'percent' });
/** The coverage cell: the share, and the mark under the low threshold. */
function coverageCell(row: Row, l: Lang): string {
  return typeof row.coverage !== 'number' ? '–' : `${pct(row.coverage, l)}${row.lowCoverage ? ` ${LOW_COVERAGE_LABEL[l]}` : ''}`;
}
const isLowCoverage = (row: Row) => row.lowCoverage === true;
/** Where an indicator points to its coverage indicator: the nation's coverage in the year, and what the marks mean. */
function coverageField(cov: { low: number; of: CoverageOf }, nation: string, year: string): string {
  const c = cov.of(nation, year);
  return `Dekningsgrad mot Norsk pasientregister (kapittel 4.1)${c ? `, nasjonalt ${pct(c.value)}${c.low ? ` – ${LOW_COVERAGE_LABEL.nb}` : ''}` : ''}. Resultater fra enheter med dekningsgrad under ${Math.round(cov.low * 100)} % er grået ut og merket «${LOW_COVERAGE_LABEL.nb}».`;
}

function indicatorTableColumns(): Column[] {
  return [
    { key: 'number', label: 'Nr', format: 'text' },
    { key: 'title', label: 'Indikator', format: 'text' },
    { key: 'target', label: 'Mål', format: 'text' },
    { key: 'result', label: 'Resultat', format: 'text' },
    { key: 'level', label: 'Måloppnåelse', format: 'text' },
  ];
}
function indicatorRow(ind: Indicator, r: IndicatorResult | undefined): Row {
  return {
    number: ind.def.number,
    title: ind.def.title.nb,
    target: ind.def.target ? thresholdText(ind.def.target) : '–',
    result: !r ? '–' : r.status === 'ok' ? `${pct(r.proportion!)} (${r.numerator}/${r.denominator})` : STATUS_NB[r.status],
    level: r?.level ? LEVEL_NB[r.level] : '–',
  };
}

export async function annualReport(ctx: ReportContext, registry: Registry, year: string, dataset: 'fresh' | 'qa'): Promise<Buffer> {
  const cfg = readYamlFile(registry, 'report.yaml', reportConfigSchema) ?? reportConfigSchema.parse({});
  const stage = readYamlFile(registry, 'stage-assessment.yaml', stageSchema);
  const nation = ctx.indicators.nation();
  const inds = ctx.indicators.list(registry.id);
  const national = withoutPendingDuplicates(
    await ctx.indicators.results(registry, { grain: 'year', period: year, units: [nation], dataset }),
  );
  const byInd = (id: string) => national.find((r) => r.indicator === id);
  // Cases per registering unit, complete and finalised, as disclosure control shows them (analysis-tables.ts).
  const { completeness } = await ctx.figures.yearTables(registry, year, 'fresh');
  const quality = completeness.rows;
  const total = completeness.total.withheld.n === null ? completeness.total.n : null;
  const totalText = total === null ? `færre enn ${registry.meta.smallCountThreshold}` : String(total);
  const title = registry.meta.title.nb;
  const w = new ReportWriter(`${title} – årsrapport ${year}`, registry.meta.dataController ?? 'kvalreg');
  w.titlePage(title, `Årsrapport for ${year}`, [
    `Laget ${osloDate(new Date().toISOString())} fra registerets data (${dataset === 'qa' ? 'kvalitetssikret datasett: ferdigstilte registreringer' : 'ferskt datasett: alt som er registrert'}).`,
    `Databehandlingsansvarlig: ${registry.meta.dataController ?? '–'}.`,
    `${totalText} ${registry.meta.caseName?.nb ?? 'registreringer'} med ${(registry.variables.get(ctx.figures.analysesOf(registry).periodDate)?.def.label.nb ?? ctx.figures.analysesOf(registry).periodDate).toLowerCase()} i ${year}.`,
    // Said only as disclosure control shows the nation's counts: a withheld finalised count as "fewer than".
    ...(completeness.total.withheld.n === null
      ? finalisedWarning(
          [completeness.total],
          dataset,
          year,
          completeness.total.withheld.finalised === null ? undefined : registry.meta.smallCountThreshold,
        )
      : []),
  ]);

  // Del 1: results.
  w.newPage();
  w.heading('1 Sammendrag');
  w.markdown(readText(registry, 'summary.md') ?? NO_TEXT);
  w.paragraph(
    `I ${year} er det registrert ${totalText} ${registry.meta.caseName?.nb ?? 'registreringer'} fra ${quality.filter((q) => q.unit).length} registrerende enheter. Kvalitetsindikatorene på nasjonalt nivå:`,
  );
  w.table(
    indicatorTableColumns(),
    inds.map((ind) => indicatorRow(ind, byInd(ind.def.id))),
    { widths: [30, 235, 60, 105, 65] },
  );
  // The coverage indicator beside the results: under the low threshold they are marked "Lav dekningsgrad".
  if (ctx.quality?.definition(registry.id)?.npr) {
    const cov = (await ctx.quality.coverageRows(registry)).find((r) => r.unit === nation && r.year === Number(year));
    const low = ctx.quality.thresholds(registry).coverage.low;
    if (cov?.coverage != null)
      w.paragraph(
        `Dekningsgrad mot Norsk pasientregister nasjonalt i ${year}: ${pct(cov.coverage)}${cov.coverage < low ? ' – Lav dekningsgrad: tolk resultatene med varsomhet.' : '.'} Dekningsgrad per sykehus står i kapittel 4.1.`,
      );
  }

  w.heading('2 Resultater');
  w.heading('2.1 Kvalitetsindikatorer', 2);
  const cov = await resultCoverage(ctx, registry);
  for (const [i, ind] of inds.entries()) {
    w.heading(`2.1.${i + 1} ${ind.def.title.nb}`, 3);
    w.field('Definisjon/beskrivelse', ind.def.description.nb);
    w.field('Kilde', ind.def.source.nb);
    w.field(
      'Type indikator',
      ind.def.type.map((t) => ({ structure: 'struktur', process: 'prosess', outcome: 'resultat' })[t]).join(' og '),
    );
    w.field('Måloppnåelse', ind.def.target ? thresholdText(ind.def.target) : 'Ikke fastsatt');
    if (ind.def.references.length) w.field('Kunnskapsgrunnlag', ind.def.references.join('; '));
    if (ind.def.status !== 'active') {
      w.field('Beregning', 'Definisjonen kommer; indikatoren beregnes ikke ennå.');
      continue;
    }
    w.field('Beregning', definitionLines(ind, registry, 'nb').join('\n'));
    if (cov) w.field('Dekningsgrad', coverageField(cov, nation, year));
    w.paragraph(`Nasjonalt: ${resultSentence(byInd(ind.def.id))}`);
    const fig = await ctx.figures.unitsFigure(registry, ind, { year, level: cfg.unitLevel, dataset, lang: 'nb' });
    fig.data = withCoverage(fig.data, cov, year);
    if (cov && fig.spec.kind === 'unit-bars') fig.spec.encoding.muted = 'lowCoverage';
    const rows = fig.data.filter((r) => r.status !== 'not-computable');
    if (rows.length === 0) continue;
    w.table(
      [...RESULT_COLUMNS('nb').filter((c) => c.key !== 'status' && c.key !== 'level'), ...(cov ? [COVERAGE_COLUMN('nb')] : [])],
      rows,
      {
        widths: cov ? [125, 45, 40, 40, 45, 50, 50, 100] : [165, 55, 45, 45, 45, 70, 70].map((x) => x * 0.99),
        format: (c, v, row) => (c.key === 'coverage' ? coverageCell(row, 'nb') : defaultFormat(c, v)),
        muted: isLowCoverage,
      },
    );
    w.figure(fig, fig.spec.description);
  }

  // Statistics that are not proportions (e.g. observed against expected survival), per hospital.
  const statistics = ctx.indicators.statistics(registry.id);
  if (statistics.length) {
    const results = await ctx.indicators.statisticResults(registry, {
      dataset,
      grain: 'year',
      period: year,
      units: [
        nation,
        ...ctx.units
          .all()
          .filter((u) => u.level === 'hospital')
          .map((u) => u.resh),
      ],
    });
    for (const [i, st] of statistics.entries()) {
      w.heading(`2.1.${inds.length + i + 1} ${st.def.title.nb}`, 3);
      w.field('Definisjon/beskrivelse', st.def.description.nb);
      if (st.def.references.length) w.field('Kunnskapsgrunnlag', st.def.references.join('; '));
      const mine = results.filter((r) => r.statistic === st.def.id && (r.unit === nation || r.status === 'ok'));
      const rows: Row[] = withCoverage(
        mine
          .sort((a, b) => Number(b.unit === nation) - Number(a.unit === nation) || (b.value ?? 0) - (a.value ?? 0))
          .map((r) => {
            const u = ctx.units.get(r.unit);
            return { unit: u ? unitName(u, 'nb', ctx.units) : r.unit, resh: r.unit, n: r.n, value: r.status === 'ok' ? r.value : null };
          }),
        cov,
        year,
      );
      if (rows.length) {
        if (cov) w.field('Dekningsgrad', coverageField(cov, nation, year));
        w.table(
          [
            { key: 'unit', label: 'Enhet', format: 'text' },
            { key: 'n', label: 'Antall', format: 'number' },
            { key: 'value', label: 'Verdi', format: 'decimal' },
            ...(cov ? [COVERAGE_COLUMN('nb')] : []),
          ],
          rows,
          {
            widths: cov ? [240, 80, 80, 100] : [300, 100, 100],
            format: (c, v, row) => (c.key === 'coverage' ? coverageCell(row, 'nb') : defaultFormat(c, v)),
            muted: isLowCoverage,
          },
        );
      } else w.paragraph('Ingen enheter med nok pasienter dette året.', { italic: true });
    }
  }

  w.heading('2.2 Pasientrapporterte data (PROM/PREM)', 2);
  w.markdown(readText(registry, 'prom.md') ?? NO_TEXT, 3);

  w.heading('2.3 Andre analyser', 2);
  w.markdown(readText(registry, 'analyses.md') ?? NO_TEXT, 3);
  const analysesUnit = cfg.analysesUnit && ctx.units.has(cfg.analysesUnit) ? cfg.analysesUnit : nation;
  for (const a of ctx.figures.analysesOf(registry).list) {
    try {
      const fig = await ctx.figures.figure(registry, a.id, { year, unit: analysesUnit, dataset, lang: 'nb' });
      w.figure(fig, `${a.reference ? `${a.reference}. ` : ''}${fig.spec.description}${fig.spec.note ? ` ${fig.spec.note}` : ''}`);
    } catch (err) {
      if (!(err instanceof FigureError)) throw err;
      w.paragraph(`${a.title.nb}: ${err.message}`, { italic: true });
    }
  }

  // Del 2: administrative information.
  w.newPage();
  w.heading('3 Registerbeskrivelse');
  w.markdown(readText(registry, 'description.md') ?? NO_TEXT, 3);
  w.field('Juridisk hjemmelsgrunnlag', registry.meta.legalBasis?.nb ?? '–');
  w.field('Databehandlingsansvarlig', registry.meta.dataController ?? '–');
  w.field('Formål og innhold', registry.meta.description?.nb ?? '–');
  w.field(`Antall ${registry.meta.caseName?.nb ?? 'registreringer'} i ${year}`, totalText);

  w.heading('4 Datakvalitet');
  w.markdown(readText(registry, 'data-quality.md') ?? NO_TEXT, 3);
  const threshold = registry.meta.smallCountThreshold;
  // A share is shown with its count and its unit's count; a share of a withheld count would give it away.
  const row = (q: (typeof quality)[number], name: string): Row => ({
    unit: name,
    resh: q.unit,
    n: q.withheld.n === null ? q.n : null,
    complete: q.withheld.n === null && q.withheld.complete === null ? q.complete / q.n : null,
    finalised: q.withheld.n === null && q.withheld.finalised === null ? q.finalised / q.n : null,
  });
  const qRows: Row[] = quality.map((q) => {
    const u = ctx.units.get(q.unit);
    return row(q, u ? unitName(u, 'nb', ctx.units) : q.unit || '(uten enhet)');
  });
  if (completeness.total.n > 0) qRows.push(row(completeness.total, 'Alle'));
  w.paragraph(
    `Kompletthet: andelen registreringer der alle påkrevde verdier finnes og ingen regel er brutt, og andelen der alle skjema er ferdigstilt, per registrerende enhet (antall under ${threshold}, og tall som ville avsløre dem, vises ikke).`,
  );
  w.table(
    [
      { key: 'unit', label: 'Enhet' },
      { key: 'resh', label: 'RESH' },
      { key: 'n', label: 'Antall', format: 'number' },
      { key: 'complete', label: 'Komplette', format: 'percent' },
      { key: 'finalised', label: 'Ferdigstilte', format: 'percent' },
    ],
    qRows,
    { widths: [200, 60, 60, 88, 87] },
  );

  // Coverage, completeness, timeliness and validation from the platform (reports/quality-chapters.ts).
  if (ctx.quality) await dataQualitySections(w, ctx.quality, registry, ctx.units, Number(year));

  w.heading('5 Referanser til vurdering av stadium');
  // The platform's assessment when the registry declares its requirements (stage.yaml), else the hand-kept table.
  if (ctx.quality && (await stageSection(w, ctx.quality, registry, Number(year)))) {
    /* written */
  } else if (!stage) w.paragraph(NO_TEXT);
  else {
    w.paragraph(`Registerets egen vurdering for ${stage.year}.`);
    const cols: Column[] = [
      { key: 'nr', label: 'Nr' },
      { key: 'stage', label: 'Stadium' },
      { key: 'text', label: 'Beskrivelse' },
      { key: 'chapter', label: 'Kapittel' },
      { key: 'answer', label: 'Ja/nei' },
    ];
    w.table(
      cols,
      stage.items.map((i) => ({ nr: i.nr, stage: i.stage, text: i.text, chapter: i.chapter, answer: i.answer })),
      {
        widths: [30, 50, 300, 60, 55],
        format: (c, v) => (c.key === 'answer' ? (v ? 'Ja' : 'Nei') : defaultFormat(c, v)),
      },
    );
    const stageReached = [2, 3, 4].filter((s) => stage.items.filter((i) => i.stage <= s).every((i) => i.answer)).pop() ?? 1;
    w.paragraph(`Stadium og nivå: stadium ${stageReached}, nivå ${stage.level}.${stage.levelText ? ` ${stage.levelText}` : ''}`);
  }
  return w.finish(`${registry.meta.short ?? registry.id} årsrapport ${year}`);
}

/** A unit's own results against the nation for the year so far, with each indicator's trend. */
export async function unitReport(
  ctx: ReportContext,
  registry: Registry,
  o: { unit: string; year: string; lang: Lang; footer?: string },
): Promise<Buffer> {
  const unit = ctx.units.get(o.unit);
  if (!unit) throw new FigureError(`Unknown unit "${o.unit}".`);
  const l = o.lang;
  const name = unitName(unit, l, ctx.units);
  const nation = ctx.indicators.nation();
  const inds = ctx.indicators.list(registry.id).filter((i) => i.def.status === 'active');
  const results = withoutPendingDuplicates(
    await ctx.indicators.results(registry, { grain: 'year', period: o.year, units: [o.unit, nation] }),
  );
  const w = new ReportWriter(`${registry.meta.title[l]} – ${name}`, 'kvalreg', l);
  w.heading(`${registry.meta.title[l]}: ${l === 'nb' ? 'enhetsrapport' : 'unit report'}`);
  w.paragraph(`${name} (RESH ${unit.resh}), ${o.year}. ${l === 'nb' ? 'Laget' : 'Made'} ${osloDate(new Date().toISOString())}.`);
  const cols: Column[] = [
    { key: 'title', label: l === 'nb' ? 'Indikator' : 'Indicator' },
    { key: 'own', label: name },
    { key: 'nation', label: l === 'nb' ? 'Landet' : 'Nation' },
    { key: 'target', label: l === 'nb' ? 'Mål' : 'Target' },
  ];
  const cov = await resultCoverage(ctx, registry);
  // The unit's result with its coverage indicator: under the low threshold marked "Lav dekningsgrad".
  const show = (r: IndicatorResult | undefined) => {
    if (!r) return '–';
    const c = cov?.of(r.unit.resh, o.year);
    const mark = c?.low ? ` – ${LOW_COVERAGE_LABEL[l]} (${pct(c.value, l)})` : '';
    return r.status === 'ok'
      ? `${pct(r.proportion!, l)} (${r.numerator}/${r.denominator})${mark}`
      : `${(l === 'en' ? STATUS_EN : STATUS_NB)[r.status]}${mark}`;
  };
  w.table(
    cols,
    inds.map((ind) => ({
      title: `${ind.def.number}. ${ind.def.title[l]}`,
      own: show(results.find((r) => r.indicator === ind.def.id && r.unit.resh === o.unit)),
      nation: show(results.find((r) => r.indicator === ind.def.id && r.unit.resh === nation)),
      target: ind.def.target ? thresholdText(ind.def.target) : '–',
    })),
    { widths: [220, 100, 100, 75] },
  );
  for (const ind of inds) {
    const fig = await ctx.figures.trendFigure(registry, ind, { year: o.year, unit: o.unit, dataset: 'fresh', lang: l });
    w.figure(fig, fig.spec.description);
  }
  return w.finish(o.footer ?? `${registry.meta.short ?? registry.id} – ${name}`);
}

/** One indicator: every unit compared, and the subscriber's unit over time. */
export async function indicatorReport(
  ctx: ReportContext,
  registry: Registry,
  o: { unit: string; indicator: string; year: string; lang: Lang; footer?: string },
): Promise<Buffer> {
  const ind = ctx.indicators.get(registry.id, o.indicator);
  const unit = ctx.units.get(o.unit);
  if (!ind || !unit) throw new FigureError(`Unknown indicator "${o.indicator}" or unit "${o.unit}".`);
  const l = o.lang;
  const w = new ReportWriter(`${ind.def.number}. ${ind.def.title[l]}`, 'kvalreg', l);
  w.heading(`${ind.def.number}. ${ind.def.title[l]}`);
  w.paragraph(`${unitName(unit, l, ctx.units)} (RESH ${unit.resh}), ${o.year}. ${ind.def.description[l]}`);
  w.field(l === 'nb' ? 'Mål' : 'Target', ind.def.target ? thresholdText(ind.def.target) : '–');
  w.field(l === 'nb' ? 'Beregning' : 'Computation', definitionLines(ind, registry, l).join('\n'));
  const units = await ctx.figures.unitsFigure(registry, ind, {
    year: o.year,
    unit: o.unit,
    level: unit.level === 'department' ? 'department' : 'hospital',
    dataset: 'fresh',
    lang: l,
  });
  const cov = await resultCoverage(ctx, registry);
  units.data = withCoverage(units.data, cov, o.year);
  if (cov && units.spec.kind === 'unit-bars') units.spec.encoding.muted = 'lowCoverage';
  w.figure(units, units.spec.description);
  // The level in the report's words (the row keeps the code for the chart); low coverage greyed and marked.
  w.table([...RESULT_COLUMNS(l).filter((c) => c.key !== 'status'), ...(cov ? [COVERAGE_COLUMN(l)] : [])], units.data, {
    widths: cov ? [115, 40, 40, 40, 40, 45, 45, 50, 80] : [150, 50, 45, 45, 45, 55, 55, 50],
    format: (c, v, row) =>
      c.key === 'level' ? String(row.levelText ?? '–') : c.key === 'coverage' ? coverageCell(row, l) : defaultFormat(c, v, l),
    muted: isLowCoverage,
  });
  const trend = await ctx.figures.trendFigure(registry, ind, { year: o.year, unit: o.unit, dataset: 'fresh', lang: l });
  w.figure(trend, trend.spec.description);
  return w.finish(o.footer ?? `${registry.meta.short ?? registry.id} – ${unitName(unit, l, ctx.units)}`);
}

export { resultRow };
