// The annual report's data-quality chapter (coverage against NPR, completeness of the variables,
// timeliness, correctness by re-abstraction) and stage chapter, generated from the platform's
// data-quality service (src/quality/) instead of written by hand each year. Aggregates only, as the
// public sees them: small counts withheld (the service's public views do that).
import type { Quality } from '../quality/service.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import type { Row } from './charts.ts';
import { defaultFormat, type ReportWriter } from './pdf.ts';

const VERDICT_NB: Record<string, string> = { good: 'God', acceptable: 'Akseptabel', poor: 'Dårlig', 'not-computable': 'Kan ikke beregnes' };
const pctNb = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1).replace('.', ',')} %`);

/** Sections 4.1–4.4. Returns false when the registry declares no data quality (the chapter then keeps its hand-written form only). */
export async function dataQualitySections(
  w: ReportWriter,
  quality: Quality,
  registry: Registry,
  units: UnitTree,
  year: number,
): Promise<boolean> {
  if (!quality.has(registry.id)) return false;
  const nation = units.all().find((u) => u.level === 'nation')!.resh;
  const t = quality.thresholds(registry);

  w.heading('4.1 Dekningsgrad mot Norsk pasientregister', 2);
  const def = quality.definition(registry.id);
  if (!def?.npr) w.paragraph('Registeret har ikke erklært hvilke opphold i NPR som hører til det.');
  else {
    // Per hospital: each trust's view lists its hospitals (counts under the threshold withheld).
    const trusts = units
      .all()
      .filter((u) => u.level === 'trust')
      .map((u) => u.resh);
    const rows: Row[] = [];
    for (const unit of [nation, ...trusts]) {
      const view = await quality.coverage(null, registry, { unit });
      for (const r of view.rows.filter(
        (x) => x.year === year && (unit === nation ? x.unit === nation : units.get(x.unit)?.level === 'hospital'),
      )) {
        rows.push({
          unit: r.unit === nation ? 'Hele landet' : r.name,
          both: r.bothNpr,
          onlyNpr: r.onlyNpr,
          onlyRegistry: r.onlyRegistry,
          coverage: r.coverage,
          mark: r.low ? 'Lav dekningsgrad' : '',
        });
      }
    }
    if (rows.length === 0)
      w.paragraph(`Ingen dekningsgrad er beregnet for ${year}: registeret har ikke lastet inn et NPR-uttrekk for året.`);
    else {
      w.paragraph(
        `Dekningsgrad = (bare i registeret + i begge) / (bare i NPR + bare i registeret + i begge), per sykehus for ${year}, koblet på person, sykehus og dato. Pasienter som har reservert seg, regnes som bare i NPR. Under ${Math.round(t.coverage.low * 100)} % er merket «Lav dekningsgrad»; antall under ${registry.meta.smallCountThreshold} vises ikke.`,
      );
      w.table(
        [
          { key: 'unit', label: 'Sykehus' },
          { key: 'both', label: 'I begge', format: 'number' },
          { key: 'onlyNpr', label: 'Bare i NPR', format: 'number' },
          { key: 'onlyRegistry', label: 'Bare i registeret', format: 'number' },
          { key: 'coverage', label: 'Dekningsgrad', format: 'percent' },
          { key: 'mark', label: '' },
        ],
        rows,
        { widths: [165, 55, 60, 70, 70, 80] },
      );
    }
  }

  const report = await quality.publicReport(registry, { unit: nation, year });
  w.heading('4.2 Kompletthet av variablene', 2);
  w.paragraph(
    `Andelen registreringer som har verdien der den skal finnes (påkrevd, eller når vilkåret er oppfylt), nasjonalt for ${year}. Svaret «ukjent» regnes som utfylt og vises for seg. Variabler som indikatorene og justeringen bruker, står først. Vurdering: god fra ${Math.round(t.completeness.good * 100)} %, akseptabel fra ${Math.round(t.completeness.acceptable * 100)} %; «kan ikke beregnes» når ingen registrering skal ha verdien.`,
  );
  w.table(
    [
      { key: 'label', label: 'Variabel' },
      { key: 'denominator', label: 'Nevner', format: 'number' },
      { key: 'failures', label: 'Mangler', format: 'number' },
      { key: 'unknown', label: 'Ukjent', format: 'number' },
      { key: 'rate', label: 'Utfylt', format: 'percent' },
      { key: 'verdict', label: 'Vurdering' },
    ],
    report.completeness.map((c) => ({
      label: c.label.nb,
      denominator: c.denominator,
      failures: c.failures,
      unknown: c.unknown ?? null,
      rate: c.rate,
      verdict: VERDICT_NB[c.verdict],
    })),
    { widths: [190, 55, 55, 50, 60, 90] },
  );
  const invalid = [...report.validity, ...report.consistency].filter((c) => (c.failures ?? 0) > 0);
  w.paragraph(
    `Gyldighet og konsistens: ${report.validity.length + report.consistency.length} kontroller fra kodeboken (grenser, rimelige verdier, kodelister, datoer og regler på tvers av felt); ${invalid.length === 0 ? 'ingen avvik.' : `avvik i ${invalid.length}: ${invalid.map((c) => `${c.label.nb} (${c.failures ?? 'under ' + registry.meta.smallCountThreshold})`).join('; ')}.`}`,
  );

  w.heading('4.3 Tidsaktualitet', 2);
  if (!report.timeliness) w.paragraph('Registeret har ikke erklært frister.');
  else {
    const x = report.timeliness;
    w.table(
      [
        { key: 'what', label: 'Fra hendelsen til' },
        { key: 'n', label: 'Antall', format: 'number' },
        { key: 'median', label: 'Median dager', format: 'number' },
        { key: 'deadline', label: 'Frist (dager)', format: 'number' },
        { key: 'rate', label: 'Innen fristen', format: 'percent' },
        { key: 'verdict', label: 'Vurdering' },
      ],
      [
        {
          what: 'registrering',
          n: x.registration.n,
          median: x.registration.medianDays,
          deadline: x.registration.deadlineDays,
          rate: x.registration.rate,
          verdict: VERDICT_NB[x.registration.verdict],
        },
        {
          what: 'ferdigstilling',
          n: x.finalisation.n,
          median: x.finalisation.medianDays,
          deadline: x.finalisation.deadlineDays,
          rate: x.finalisation.rate,
          verdict: VERDICT_NB[x.finalisation.verdict],
        },
      ],
      { widths: [110, 60, 70, 70, 80, 110] },
    );
  }
  w.paragraph(
    `Enheter som rapporterer: ${report.unitsReporting.reporting} av ${report.unitsReporting.expected} (${pctNb(report.unitsReporting.rate)}).`,
  );

  w.heading('4.4 Validering mot journal (korrekthet)', 2);
  const studies = await quality.studiesOfYear(registry, year);
  if (studies.length === 0)
    w.paragraph(`Ingen valideringsstudie (ny registrering fra journal av et tilfeldig utvalg) er gjort for ${year}.`);
  for (const s of studies) {
    w.paragraph(
      `${s.study.name}: ${s.cases} registreringer registrert på nytt fra journalen uten å se de lagrede verdiene. Samsvar per variabel med 95 % konfidensintervall; kappa for kategorier, forskjeller for tall og tider.`,
    );
    w.table(
      [
        { key: 'label', label: 'Variabel' },
        { key: 'n', label: 'Antall', format: 'number' },
        { key: 'percent', label: 'Samsvar', format: 'percent' },
        { key: 'interval', label: '95 % KI' },
        { key: 'kappa', label: 'Kappa / snittforskjell' },
      ],
      s.variables.map((v) => ({
        label: typeof v.label === 'object' && v.label ? (v.label as { nb: string }).nb : v.variable,
        n: v.n,
        percent: v.percent,
        interval: v.percentInterval ? `${pctNb(v.percentInterval.lower)}–${pctNb(v.percentInterval.upper)}` : '–',
        kappa:
          v.kind === 'category'
            ? v.kappa === null
              ? '–'
              : v.kappa.toFixed(2).replace('.', ',')
            : v.meanDifference === null
              ? '–'
              : `${v.meanDifference.toFixed(1).replace('.', ',')} ${v.unit}`,
      })),
      { widths: [170, 50, 70, 120, 110], format: (c, v) => defaultFormat(c, v) },
    );
  }
  return true;
}

/** Section 5 from the platform's assessment; false when the registry declares no stage requirements. */
export async function stageSection(w: ReportWriter, quality: Quality, registry: Registry, year: number): Promise<boolean> {
  if (!quality.hasStage(registry.id)) return false;
  const a = await quality.stage(registry, year);
  w.paragraph(
    `Kravene for ${year} med dokumentasjonen: det plattformen har beregnet, ellers registerets svar med lenke. Regelen: alle krav i et stadium og stadiene under må være oppfylt; krav 17 gir nivå A, krav 18 nivå B.`,
  );
  w.table(
    [
      { key: 'nr', label: 'Nr' },
      { key: 'stage', label: 'Stadium' },
      { key: 'text', label: 'Beskrivelse' },
      { key: 'chapter', label: 'Kapittel' },
      { key: 'evidence', label: 'Dokumentasjon' },
      { key: 'met', label: 'Ja/nei' },
    ],
    a.items.map((i) => ({
      nr: i.nr,
      stage: i.stage ?? `Nivå ${i.level}`,
      text: i.text,
      chapter: i.chapter,
      evidence:
        i.computed && i.computed.value !== null
          ? `Beregnet: ${i.computed.detail}`
          : i.answer
            ? i.answer.evidence || i.answer.actor
            : 'Ikke besvart',
      met: i.met,
    })),
    { widths: [25, 45, 200, 50, 150, 35], format: (c, v) => (c.key === 'met' ? (v ? 'Ja' : 'Nei') : defaultFormat(c, v)) },
  );
  w.paragraph(`Foreløpig vurdering: ${a.verdict} (stadium ${a.stage}, nivå ${a.level}). Ekspertgruppen fastsetter stadium og nivå.`);
  return true;
}
