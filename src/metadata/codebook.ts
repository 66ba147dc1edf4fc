// The codebook in the canonical layout of the Norwegian registries' own R tools (rapwhale's
// "kodebok": one row per value of a categorical variable, one row per other variable), as CSV and
// XLSX, and read back (scaffold.ts). The column order is rapwhale's (`kb_er_gyldig` checks it):
// skjema_id, skjemanamn, kategori, innleiing, variabel_id, variabeletikett, forklaring,
// variabeltype, eining, unik, obligatorisk, verdi, verditekst, manglande, desimalar, min, maks,
// min_rimeleg, maks_rimeleg, kommentar_rimeleg, utrekningsformel, logikk, kommentar.
import ExcelJS from 'exceljs';
import { stringify } from 'csv-stringify/sync';
import type { Registry } from '../registry/load.ts';
import type { VariableType } from '../registry/schema.ts';

export const CODEBOOK_COLUMNS = [
  'skjema_id',
  'skjemanamn',
  'kategori',
  'innleiing',
  'variabel_id',
  'variabeletikett',
  'forklaring',
  'variabeltype',
  'eining',
  'unik',
  'obligatorisk',
  'verdi',
  'verditekst',
  'manglande',
  'desimalar',
  'min',
  'maks',
  'min_rimeleg',
  'maks_rimeleg',
  'kommentar_rimeleg',
  'utrekningsformel',
  'logikk',
  'kommentar',
] as const;
export type CodebookRow = Record<(typeof CODEBOOK_COLUMNS)[number], string | number | null>;

export const TO_CANONICAL: Record<VariableType, string> = {
  code: 'kategorisk',
  boolean: 'boolsk',
  integer: 'numerisk',
  decimal: 'numerisk',
  date: 'dato',
  datetime: 'dato_kl',
  text: 'tekst',
};
/** The condition of a conditionally required variable is kept in `logikk` behind this prefix. */
export const REQUIRED_WHEN = 'obligatorisk når: ';
/**
 * The canonical layout has no missing value for a boolean, so a boolean is always `obligatorisk: ja`
 * there; one the registry does not require says so in `kommentar` with this sentence.
 */
export const OPTIONAL_BOOLEAN = 'Valfri i kvalreg.';
/**
 * What the layout has no column for but a scaffolded registry needs to compute its derived variables
 * (and so keep the conditional requirements over them), said in `kommentar` before any `Kilde: `:
 * the code list a variable uses (`Kodeliste: side.`), a code's properties
 * (`Eigenskapar: {"bone":"2",…}`, read by codeProperty) and a derived variable's type (`Type: integer.`).
 */
export const CODELIST_TAG = 'Kodeliste: ';
export const PROPERTIES_TAG = 'Eigenskapar: ';
export const TYPE_TAG = 'Type: ';
/** Marks a repeating form in `kommentar`. */
export const REPEATING_FORM = 'Gjentatt skjema (ein instans per hending).';

/** The form that holds derived variables in the canonical layout. */
export const DERIVED_FORM = { id: 'utrekna', name: 'Utrekna variablar' };

/** A derived variable's computation as text: its expression, or the count, collection or PROM result it reads. */
export function derivedFormula(d: Registry['derived'][number]['def'], where = 'der'): string {
  if (d.expr) return d.expr;
  if (d.count) return `count(${d.count.form}${d.count.where ? ` ${where} ${d.count.where}` : ''})`;
  if (d.collect) return `collect(${d.collect.form}.${d.collect.variable})`;
  if (d.prom)
    return `prom(${d.prom.schedule ? `${d.prom.schedule}.` : ''}${d.prom.timepoint}: ${Object.entries(d.prom.instruments)
      .map(([i, score]) => `${i}.${score}`)
      .join(' | ')}; ${d.prom.value})`;
  return '';
}

const comment = (parts: Array<string | null>) => parts.filter(Boolean).join(' ') || null;

export function codebookRows(registry: Registry): CodebookRow[] {
  const rows: CodebookRow[] = [];
  const blank = (): CodebookRow => Object.fromEntries(CODEBOOK_COLUMNS.map((c) => [c, null])) as CodebookRow;
  for (const form of registry.forms) {
    form.variables.forEach((v, i) => {
      const numeric = v.type === 'integer' || v.type === 'decimal';
      const base: CodebookRow = {
        ...blank(),
        skjema_id: form.id,
        skjemanamn: form.title.nb,
        innleiing: i === 0 ? (form.description?.nb ?? null) : null,
        variabel_id: v.id,
        variabeletikett: v.label.nb,
        forklaring: v.description.nb,
        variabeltype: TO_CANONICAL[v.type],
        eining: numeric ? (v.unit ?? null) : null,
        unik: 'nei',
        obligatorisk: v.required === true || v.type === 'boolean' ? 'ja' : 'nei',
        desimalar: v.type === 'integer' ? 0 : v.type === 'decimal' ? (v.decimals ?? null) : null,
        min: numeric ? (v.range?.min ?? null) : null,
        maks: numeric ? (v.range?.max ?? null) : null,
        min_rimeleg: numeric ? (v.plausible?.min ?? null) : null,
        maks_rimeleg: numeric ? (v.plausible?.max ?? null) : null,
        kommentar_rimeleg: numeric ? (v.plausible?.comment?.nb ?? null) : null,
        logikk: typeof v.required === 'string' ? `${REQUIRED_WHEN}${v.required}` : null,
        kommentar: comment([
          form.repeating ? REPEATING_FORM : null,
          v.type === 'boolean' && v.required !== true && typeof v.required !== 'string' ? OPTIONAL_BOOLEAN : null,
          v.type === 'code' ? `${CODELIST_TAG}${v.codelist}.` : null,
          v.source ? `Kilde: ${v.source}` : null,
        ]),
      };
      if (v.type === 'code') {
        const list = registry.codelists.get(v.codelist!)!;
        for (const [code, display] of list.codes) {
          const props = list.properties.get(code);
          rows.push({
            ...base,
            verdi: code,
            verditekst: display.nb,
            manglande: list.missing.has(code) ? 'ja' : 'nei',
            // The properties before the source, which runs to the end of the comment.
            kommentar: props
              ? comment([
                  form.repeating ? REPEATING_FORM : null,
                  `${CODELIST_TAG}${v.codelist}.`,
                  `${PROPERTIES_TAG}${JSON.stringify(props)}`,
                  v.source ? `Kilde: ${v.source}` : null,
                ])
              : base.kommentar,
          });
        }
      } else rows.push(base);
    });
  }
  for (const d of registry.derived) {
    const formula = derivedFormula(d.def);
    rows.push({
      ...blank(),
      skjema_id: DERIVED_FORM.id,
      skjemanamn: DERIVED_FORM.name,
      variabel_id: d.def.id,
      variabeletikett: d.def.label.nb,
      forklaring: d.def.description.nb,
      variabeltype: 'utrekna',
      unik: 'nei',
      obligatorisk: 'nei',
      utrekningsformel: formula,
      kommentar: comment([`${TYPE_TAG}${d.def.type}.`, d.def.codelist ? `${CODELIST_TAG}${d.def.codelist}.` : null]),
    });
  }
  return rows;
}

export function codebookCsv(registry: Registry): string {
  return stringify(codebookRows(registry), { header: true, columns: [...CODEBOOK_COLUMNS], cast: { number: (n) => String(n) } });
}

export async function codebookXlsx(registry: Registry): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'kvalreg';
  const ws = wb.addWorksheet('kodebok');
  ws.columns = CODEBOOK_COLUMNS.map((c) => ({ header: c, key: c, width: c === 'forklaring' ? 60 : 18 }));
  for (const r of codebookRows(registry)) ws.addRow(r);
  ws.getRow(1).font = { bold: true };
  return Buffer.from(await wb.xlsx.writeBuffer());
}
