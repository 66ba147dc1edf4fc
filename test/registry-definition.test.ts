import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAnalyses } from '../src/reports/analyses.ts';
import { compileExpression } from '../src/registry/expr.ts';
import { DefinitionError, loadRegistry } from '../src/registry/load.ts';
import { coerceValue } from '../src/registry/values.ts';
import { scratchDir } from './helpers/scratch.ts';

const fractureDir = path.resolve('registries/fracture');

function copyWith(edit: (files: Record<string, string>) => void): string {
  const dir = scratchDir('reg');
  fs.cpSync(fractureDir, dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const f of ['registry.yaml', 'codebook.yaml', 'mapping.yaml']) files[f] = fs.readFileSync(path.join(dir, f), 'utf8');
  edit(files);
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

describe('registry definitions', () => {
  it('loads the fracture registry with every variable the indicators need', async () => {
    const r = await loadRegistry(fractureDir);
    for (const v of [
      'injury_date',
      'injury_datetime',
      'first_contact_datetime',
      'treating_unit',
      'care_setting',
      'ao_code',
      'side',
      'open_fracture',
      'injury_energy',
      'treatment_intent',
      'surgery_datetime',
      'failed_conservative',
      'reoperation_planned',
      'reoperation_cause',
      'antibiotic_prophylaxis',
      'tetanus_booster',
      'daily_smoker',
      'osteoporosis_assessment_offered',
      'secondary_prevention_assessed',
      'vertebral_imaging',
      'treated_at_recommended_centre',
    ]) {
      expect(r.variables.has(v), v).toBe(true);
    }
    expect(r.codelists.get('ao_ota_2018')!.codes.size).toBeGreaterThan(800);
  });

  it('checks collect variables: a repeating form, one of its variables, type text', async () => {
    const dir = copyWith((f) => {
      f['codebook.yaml'] = f['codebook.yaml'].replace(
        '\nrules:\n',
        `
  - id: bad_collect_form
    type: text
    label: { nb: x, en: x }
    description: { nb: x, en: x }
    collect: { form: skade, variable: ao_code }
  - id: bad_collect_variable
    type: integer
    label: { nb: x, en: x }
    description: { nb: x, en: x }
    collect: { form: reoperasjon, variable: ao_code }
\nrules:\n`,
      );
    });
    const err = await loadRegistry(dir).catch((e) => e);
    const text = err.problems.join('\n');
    expect(text).toMatch(/derived\[\d+\] \(bad_collect_form\)\.collect\.form: form "skade" is not repeating/);
    expect(text).toMatch(/\(bad_collect_variable\)\.collect\.variable: form "reoperasjon" has no variable "ao_code"/);
    expect(text).toMatch(/\(bad_collect_variable\)\.type: collect gives a comma-separated text/);
  });

  it('reports problems with file, path and what is wrong', async () => {
    const dir = copyWith((f) => {
      f['codebook.yaml'] = f['codebook.yaml'].replace(
        'type: boolean\n        required: true\n        label: { nb: Åpent brudd',
        'type: bool\n        required: true\n        label: { nb: Åpent brudd',
      );
      f['mapping.yaml'] = f['mapping.yaml'].replace('ao_code: "code.coding', 'ao_kode: "code.coding');
      f['registry.yaml'] = f['registry.yaml'].replace("ao_segment == '31'", "ao_segmnt == '31'");
    });
    const err = await loadRegistry(dir).catch((e) => e);
    expect(err).toBeInstanceOf(DefinitionError);
    const text = err.problems.join('\n');
    expect(text).toMatch(/codebook\.yaml: forms\[0\]\.variables\[4\]\.type: Invalid option/);
    // The codebook error stops the load before the mapping is checked; fix it and look again.
    const dir2 = copyWith((f) => {
      f['mapping.yaml'] = f['mapping.yaml'].replace('ao_code: "code.coding', 'ao_kode: "code.coding');
      f['registry.yaml'] = f['registry.yaml'].replace("ao_segment == '31'", "ao_segmnt == '31'");
    });
    const err2 = await loadRegistry(dir2).catch((e) => e);
    expect(err2.problems.join('\n')).toMatch(/mapping\.yaml: sources\[0\] \(Condition\)\.values\.ao_kode: unknown variable/);
    expect(err2.problems.join('\n')).toMatch(/registry\.yaml: inclusion\.refer\[0\]\.when: unknown variable "ao_segmnt"/);
  });

  it('checks declared analyses: a where that does not compile and a median of a non-numeric column are named with file and analysis', async () => {
    const dir = copyWith(() => undefined);
    const file = path.join(dir, 'analyses.yaml');
    fs.writeFileSync(
      file,
      fs
        .readFileSync(file, 'utf8')
        .replace(`where: "care_setting == 'emergency'"`, `where: "care_settin == 'emergency'"`)
        .replace('measure: { median: hours_injury_to_treatment }', 'measure: { median: care_setting }'),
    );
    const registry = await loadRegistry(dir);
    const err = (() => {
      try {
        loadAnalyses(registry);
        return null;
      } catch (e) {
        return e as DefinitionError;
      }
    })();
    expect(err).toBeInstanceOf(DefinitionError);
    const text = err!.problems.join('\n');
    expect(text).toMatch(/analyses\.yaml: analyses\[\d+\] \(emergency-clinic-waiting\): where: /);
    expect(text).toMatch(/\(emergency-clinic-waiting\): measure\.median: "care_setting" is not a numeric column of the analytics table/);
    // The registry's own file loads, with the code lists' displays as labels for coded columns.
    const ok = loadAnalyses(await loadRegistry(fractureDir));
    expect(ok.labels.care_setting.emergency.nb).toBe('Skadepoliklinikk/skadelegevakt/akuttmottak');
    expect(ok.labels.sex.female.nb).toBe('Kvinner');
  });

  it('validates AO codes against the explicit list, not a pattern', async () => {
    const r = await loadRegistry(fractureDir);
    expect(coerceValue(r, 'ao_code', '2R3A2').ok).toBe(true);
    expect(coerceValue(r, 'ao_code', '2R3A2.1').ok).toBe(true);
    expect(coerceValue(r, 'ao_code', '2R3A2.9').ok).toBe(false); // no such subgroup
    expect(coerceValue(r, 'ao_code', '2R3D1').ok).toBe(false); // no type D
    expect(coerceValue(r, 'ao_code', '23A2').ok).toBe(false); // the pre-2018 combined forearm code
  });

  it('maps legacy AO codes through the version map', async () => {
    const r = await loadRegistry(fractureDir);
    const map = r.versionMaps.get('ao_ota_2018')!;
    expect(map('23A2.2').code).toBe('2R3A2.2');
    expect(map('24A1').code).toBeNull(); // legacy hand bones need manual review
  });
});

describe('the expression language', () => {
  const vars = new Set(['a', 'b', 'd1', 'd2']);
  const ev = (src: string, values: Record<string, unknown>) => compileExpression(src, { variables: vars })(values);
  it('uses three-valued logic for unknown values', () => {
    expect(ev('a > 1', { a: null })).toBeNull();
    expect(ev('a > 1 && b == 2', { a: null, b: 3 })).toBe(false);
    expect(ev('a > 1 || b == 2', { a: null, b: 2 })).toBe(true);
    expect(ev('a == null', {})).toBe(true);
    expect(ev('a != null', { a: 1 })).toBe(true);
    expect(ev("a != 'x'", { a: null })).toBeNull(); // unknown, as in SQL
    expect(ev('a == b', { a: null, b: null })).toBeNull();
    expect(ev('a in b', { a: 'x', b: null })).toBeNull();
    expect(ev("a in ['x', 'y']", { a: 'y' })).toBe(true);
  });
  it('counts days and hours across the change to summer time', () => {
    expect(ev('days(d1, d2)', { d1: '2024-03-30', d2: '2024-04-02T08:00:00.000Z' })).toBe(3);
    expect(ev('hours(d1, d2)', { d1: '2024-03-30T22:00:00+01:00', d2: '2024-03-31T23:00:00+02:00' })).toBe(24);
  });
  it('takes years and months of a date-time in Norwegian time', () => {
    expect(ev('year(d1)', { d1: '2023-12-31T23:30:00.000Z' })).toBe(2024);
    expect(ev('years(d1, d2)', { d1: '2000-02-29', d2: '2024-02-28T23:30:00.000Z' })).toBe(24);
  });
  it('rejects unknown names at load time', () => {
    expect(() => compileExpression('c > 1', { variables: vars })).toThrow(/unknown variable "c"/);
    expect(() => compileExpression('evil(a)', { variables: vars })).toThrow(/unknown function "evil"/);
  });
});
