// The codebook as a REDCap data dictionary (the 18 columns of REDCap's "Data Dictionary" CSV),
// and read back (scaffold.ts). What REDCap's own columns cannot say — the code list a variable
// uses, a conditional requirement in the registry's expression language, an English label, the
// privacy class, the codes that mean "unknown", a repeating form — travels in the Field Annotation as @KVALREG-… tags, so that a
// dictionary exported here and imported again gives the same registry.
import { stringify } from 'csv-stringify/sync';
import type { Registry } from '../registry/load.ts';

export const REDCAP_COLUMNS = [
  'Variable / Field Name',
  'Form Name',
  'Section Header',
  'Field Type',
  'Field Label',
  'Choices, Calculations, OR Slider Labels',
  'Field Note',
  'Text Validation Type OR Show Slider Number',
  'Text Validation Min',
  'Text Validation Max',
  'Identifier?',
  'Branching Logic (Show field only if...)',
  'Required Field?',
  'Custom Alignment',
  'Question Number (surveys only)',
  'Matrix Group Name',
  'Matrix Ranking?',
  'Field Annotation',
] as const;

const quote = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

export function redcapRows(registry: Registry): string[][] {
  const rows: string[][] = [];
  for (const form of registry.forms) {
    form.variables.forEach((v, i) => {
      let type = 'text',
        choices = '',
        validation = '',
        min = '',
        max = '';
      if (v.type === 'code') {
        type = 'dropdown';
        choices = [...registry.codelists.get(v.codelist!)!.codes].map(([code, d]) => `${code}, ${d.nb.replace(/\|/g, '/')}`).join(' | ');
      } else if (v.type === 'boolean') type = 'yesno';
      else if (v.type === 'integer' || v.type === 'decimal') {
        validation = v.type === 'integer' ? 'integer' : 'number';
        min = v.range?.min?.toString() ?? '';
        max = v.range?.max?.toString() ?? '';
      } else if (v.type === 'date') validation = 'date_ymd';
      else if (v.type === 'datetime') validation = 'datetime_seconds_ymd';
      const tags = [
        `@KVALREG-LABEL-EN=${quote(v.label.en)}`,
        `@KVALREG-NOTE-EN=${quote(v.description.en)}`,
        ...(v.codelist ? [`@KVALREG-CODELIST=${v.codelist}`] : []),
        ...(v.codelist && registry.codelists.get(v.codelist)!.missing.size
          ? [`@KVALREG-UNKNOWN=${quote([...registry.codelists.get(v.codelist)!.missing].join(','))}`]
          : []),
        ...(typeof v.required === 'string' ? [`@KVALREG-REQUIRED=${quote(v.required)}`] : []),
        ...(v.privacy !== 'general' ? [`@KVALREG-PRIVACY=${v.privacy}`] : []),
        ...(v.unit ? [`@KVALREG-UNIT=${quote(v.unit)}`] : []),
        ...(v.source ? [`@KVALREG-SOURCE=${quote(v.source)}`] : []),
        ...(i === 0 && form.repeating ? ['@KVALREG-REPEATING'] : []),
        ...(i === 0 ? [`@KVALREG-FORM-TITLE=${quote(form.title.nb)}`, `@KVALREG-FORM-TITLE-EN=${quote(form.title.en)}`] : []),
      ];
      rows.push([
        v.id,
        form.id,
        i === 0 ? form.title.nb : '',
        type,
        v.label.nb,
        choices,
        v.description.nb,
        validation,
        min,
        max,
        v.privacy === 'direct-identifier' || v.privacy === 'indirect-identifier' ? 'y' : '',
        '',
        v.required === true ? 'y' : '',
        '',
        '',
        '',
        '',
        tags.join(' '),
      ]);
    });
  }
  return rows;
}

export function redcapCsv(registry: Registry): string {
  return stringify([[...REDCAP_COLUMNS], ...redcapRows(registry)]);
}

/** The @KVALREG-… tags of a Field Annotation: name → value (true for a tag without one). */
export function annotationTags(annotation: string): Map<string, string | true> {
  const out = new Map<string, string | true>();
  const re = /@KVALREG-([A-Z-]+)(?:=("(?:[^"\\]|\\.)*"|\S+))?/g;
  for (const m of annotation.matchAll(re)) {
    const raw = m[2];
    out.set(m[1], raw === undefined ? true : raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  return out;
}
