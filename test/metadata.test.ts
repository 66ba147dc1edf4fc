// Open metadata: the DCAT-AP-NO description passes Digdir's SHACL shapes; the REDCap dictionary
// and the canonical codebook go round (export → import → a registry folder that loads with the
// same variables); the public routes serve the codebook, FHIR resources and variable history
// without a login, and a bad dictionary gets a clear answer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { parse } from 'csv-parse/sync';
import { Parser, Store } from 'n3';
import SHACLValidator from 'rdf-validate-shacl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODEBOOK_COLUMNS, codebookCsv } from '../src/metadata/codebook.ts';
import { dcatTurtle } from '../src/metadata/dcat.ts';
import { redcapCsv } from '../src/metadata/redcap.ts';
import { fromCodebook, fromRedcap, ScaffoldError, writeRegistryFolder } from '../src/metadata/scaffold.ts';
import { loadRegistry, type Registry } from '../src/registry/load.ts';
import { expressionVariables } from '../src/registry/expr.ts';
import { readUnitsFile } from '../src/units/load.ts';
import { UnitTree } from '../src/units/tree.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

const root = path.resolve(import.meta.dirname, '..');
// Digdir's shapes, unchanged (test/fixtures/dcat-ap-no/README.md says where from).
const SHAPES = path.join(root, 'test/fixtures/dcat-ap-no/DCAT-AP-NO-shacl_shapes_2.00.ttl');

async function validate(turtle: string) {
  const shapes = new Store(new Parser().parse(fs.readFileSync(SHAPES, 'utf8')));
  const report = await new SHACLValidator(shapes).validate(new Store(new Parser().parse(turtle)));
  return {
    conforms: report.conforms,
    problems: report.results.map((r) => `${r.path?.value ?? ''} ${r.message.map((m) => m.value).join(' ')}`),
  };
}

/**
 * A conditional requirement over derived variables cannot travel in a dictionary (derived variables
 * read code-list properties the dictionary does not carry): the scaffold lists it in
 * conditions-to-restore.md instead. Every condition is either kept as it was or listed there.
 */
function expectConditions(original: Registry, back: Registry, dir: string) {
  const notes = fs.existsSync(path.join(dir, 'conditions-to-restore.md'))
    ? fs.readFileSync(path.join(dir, 'conditions-to-restore.md'), 'utf8')
    : '';
  let kept = 0;
  for (const v of original.forms.flatMap((f) => f.variables)) {
    if (typeof v.required !== 'string') continue;
    const b = back.forms.flatMap((f) => f.variables).find((x) => x.id === v.id)!;
    if (b.required === v.required) kept++;
    else {
      expect(b.required ?? false).toBe(false);
      expect(notes).toContain(`\`${v.id}\`: required when \`${v.required}\``);
    }
  }
  return kept;
}
/** The variables with a conditional requirement in the original marked so, checked by expectConditions. */
const unconditional = (x: ReturnType<typeof variables>, original: Registry) => {
  const conditional = new Set(original.forms.flatMap((f) => f.variables.filter((v) => typeof v.required === 'string').map((v) => v.id)));
  return x.map((v) => ({ ...v, required: conditional.has(v.id) ? 'conditional' : v.required }));
};

/** What a variable is, in the terms both layouts carry. */
function variables(r: Registry) {
  return r.forms.flatMap((f) =>
    f.variables.map((v) => ({
      form: f.id,
      repeating: f.repeating,
      id: v.id,
      type: v.type,
      required: v.required ?? false,
      label: v.label.nb,
      range: v.range ?? null,
      codes: v.codelist ? [...r.codelists.get(v.codelist)!.codes.keys()] : null,
      unknown: v.codelist ? [...r.codelists.get(v.codelist)!.missing] : null,
    })),
  );
}

let fracture: Registry, trauma: Registry, units: UnitTree;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvalreg-metadata-'));
beforeAll(async () => {
  fracture = await loadRegistry(path.join(root, 'registries/fracture'));
  trauma = await loadRegistry(path.join(root, 'registries/trauma'));
  units = new UnitTree(readUnitsFile(path.join(root, 'demo/units.yaml')) as never);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('DCAT-AP-NO', () => {
  it("each registry's dataset description passes Digdir's SHACL shapes", async () => {
    for (const r of [fracture, trauma]) {
      const ttl = await dcatTurtle(r, units, 'https://kvalreg.example', '2026-12-07');
      const v = await validate(ttl);
      expect(v.problems, r.id).toEqual([]);
      expect(v.conforms).toBe(true);
      // The publisher is the data controller in Digdir's organisation catalogue.
      expect(ttl).toMatch(/organizations\/\d{9}>/);
    }
  });

  it('the shapes bite: a description without a publisher, or with a theme outside the EU vocabulary, fails', async () => {
    const ttl = await dcatTurtle(fracture, units, 'https://kvalreg.example', '2026-12-07');
    const withoutPublisher = ttl.replace(/\s*dct:publisher <[^>]+>;/, '');
    expect(withoutPublisher).not.toBe(ttl);
    const a = await validate(withoutPublisher);
    expect(a.conforms).toBe(false);
    expect(a.problems.join('\n')).toMatch(/publisher/);
    const badTheme = ttl.replace(/skos:inScheme eu:data-theme/, 'skos:inScheme <https://kvalreg.example/themes>');
    expect(badTheme).not.toBe(ttl);
    expect((await validate(badTheme)).conforms).toBe(false);
  });
});

describe('round trips', () => {
  it('REDCap dictionary: export → import → a registry that loads with the same variables', async () => {
    for (const r of [fracture, trauma]) {
      const csv = redcapCsv(r);
      const dir = path.join(tmp, `redcap_${r.id}`);
      writeRegistryFolder(dir, fromRedcap(csv), { id: `redcap_${r.id}`, title: `${r.meta.title.nb} (kopi)` });
      const back = await loadRegistry(dir);
      expect(unconditional(variables(back), r)).toEqual(unconditional(variables(r), r));
      expectConditions(r, back, dir);
      // English labels, privacy classes and conditional requirements travel in the annotation.
      for (const f of r.forms)
        for (const v of f.variables) {
          const b = back.forms.flatMap((f) => f.variables).find((x) => x.id === v.id)!;
          expect(b.label.en).toBe(v.label.en);
          expect(b.privacy).toBe(v.privacy);
        }
    }
  });

  it('canonical codebook: export → import → the same variables, unknown codes and plausible ranges', async () => {
    for (const r of [fracture, trauma]) {
      const csv = codebookCsv(r);
      const rows = parse(csv, { columns: true }) as Record<string, string>[];
      expect(Object.keys(rows[0])).toEqual([...CODEBOOK_COLUMNS]);
      const dir = path.join(tmp, `codebook_${r.id}`);
      writeRegistryFolder(dir, fromCodebook(csv), { id: `codebook_${r.id}`, title: 'Kopi' });
      const back = await loadRegistry(dir);
      // The canonical layout has one numeric type: integers are told apart by desimalar = 0.
      expect(unconditional(variables(back), r)).toEqual(unconditional(variables(r), r));
      expectConditions(r, back, dir);
      // The canonical layout has one language: the Norwegian comment of a plausible range travels.
      for (const { def } of [...r.variables.values()].filter((v) => v.def.plausible)) {
        const b = back.variables.get(def.id)!.def.plausible!;
        expect([b.min, b.max, b.comment?.nb]).toEqual([def.plausible!.min, def.plausible!.max, def.plausible!.comment?.nb]);
      }
    }
    expect([...trauma.variables.values()].some((v) => v.def.plausible)).toBe(true);
  });

  // Issue 14: "a REDCap dictionary or a canonical codebook scaffolds a new registries/<id>/ folder
  // that loads". Conditions over derived variables (the fracture register's "required when
  // ao_bone == '15'", its age_at_injury >= 50) need the derived variables and the code-list
  // properties they read (codeProperty('ao_ota_2018', ao_code, 'bone')): the codebook carries them
  // (the list's id, each code's properties, each derived variable's type, in `kommentar`), so the
  // scaffolded registry declares them and keeps every condition.
  it('canonical codebook: the scaffolded registry keeps conditional requirements over derived variables', async () => {
    for (const r of [fracture, trauma]) {
      const dir = path.join(tmp, `codebook_derived_${r.id}`);
      writeRegistryFolder(dir, fromCodebook(codebookCsv(r)), { id: `derived_${r.id}`, title: 'Kopi' });
      const back = await loadRegistry(dir);
      const conditional = r.forms.flatMap((f) => f.variables).filter((v) => typeof v.required === 'string');
      expect(expectConditions(r, back, dir), r.id).toBe(conditional.length);
      expect(fs.existsSync(path.join(dir, 'conditions-to-restore.md'))).toBe(false);
      // The derived variables the conditions read are declared as they were.
      const used = new Set(conditional.flatMap((v) => expressionVariables(v.required as string)));
      const derivedUsed = r.derived.filter((d) => used.has(d.def.id));
      if (r.id === 'fracture') expect(derivedUsed.map((d) => d.def.id)).toEqual(expect.arrayContaining(['ao_bone', 'age_at_injury']));
      for (const d of derivedUsed) {
        const b = back.derived.find((x) => x.def.id === d.def.id);
        expect(b, d.def.id).toBeDefined();
        expect([b!.def.type, b!.def.expr]).toEqual([d.def.type, d.def.expr]);
      }
      // And the code-list properties they read are the same for every code.
      for (const [id, list] of r.codelists)
        if (list.properties.size)
          expect(Object.fromEntries(back.codelists.get(id)!.properties)).toEqual(Object.fromEntries(list.properties));
    }
    expect(fracture.codelists.get('ao_ota_2018')!.properties.size).toBeGreaterThan(100);
  });

  it('a bad dictionary is refused whole with every problem and where it is', () => {
    const bad = [
      'Variable / Field Name,Form Name,Field Type,Field Label,"Choices, Calculations, OR Slider Labels"',
      'Age,base,text,Alder,',
      'sex,base,dropdown,Kjønn,',
      'ok,Base Form,text,OK,',
    ].join('\n');
    let err: unknown;
    try {
      fromRedcap(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScaffoldError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/line 2: "Age" is not a variable name/);
    expect(msg).toMatch(/line 3: sex is a dropdown without choices/);
    expect(msg).toMatch(/line 4: form "Base Form"/);
    expect(() => fromCodebook('a,b\n1,2\n')).toThrow(/missing: skjema_id/);
    // An existing folder is never overwritten.
    expect(() =>
      writeRegistryFolder(path.join(root, 'registries/fracture'), fromRedcap(redcapCsv(fracture)), { id: 'fracture', title: 'x' }),
    ).toThrow(/not empty/);
  });
});

describe('public metadata routes', () => {
  let t: TestPlatform;
  beforeAll(async () => {
    t = await testPlatform();
  }, 120_000);
  afterAll(async () => {
    await t?.close();
  });
  const get = (url: string) => t.app.inject({ method: 'GET', url });

  it('serves forms, variables with history, code lists, derived variables and indicators in words, without a login', async () => {
    const res = await get('/api/public/registries/fracture/metadata');
    expect(res.statusCode, res.body).toBe(200);
    const m = res.json();
    expect(m.forms.map((f: any) => f.id)).toEqual(fracture.forms.map((f) => f.id));
    const v = m.forms[0].variables[0];
    expect(v.history[0]).toMatchObject({ version: fracture.version, change: 'added', validTo: null });
    expect(m.indicators.length).toBeGreaterThan(0);
    const defined = m.indicators.filter((i: any) => i.definition);
    expect(defined.length).toBeGreaterThan(m.indicators.length / 2);
    for (const i of defined) {
      expect(i.definition.numerator, i.id).toMatch(/\w{3,}/);
      expect(i.definition.denominator, i.id).toMatch(/\w{3,}/);
    }
    expect(m.derived.length).toBe(fracture.derived.length);
    expect(JSON.stringify(m)).not.toMatch(/"count"|"cases"/);
  });

  it('gives each variable its change history over the stored definition versions', async () => {
    // A later version (stored as the loader stores one) changes injury_energy's label and drops open_fracture.
    const {
      rows: [v],
    } = await t.platform.db.pool.query('SELECT definition FROM registry_version WHERE registry = $1 AND version = $2', [
      'fracture',
      fracture.version,
    ]);
    const def = structuredClone(v.definition);
    for (const f of def.codebook.forms) {
      f.variables = f.variables.filter((x: any) => x.id !== 'open_fracture');
      for (const x of f.variables) if (x.id === 'injury_energy') x.label = { nb: 'Skadeenergi (ny tekst)', en: 'Injury energy (new text)' };
    }
    await t.platform.db.pool.query(
      "INSERT INTO registry_version (registry, version, sha256, definition, loaded_at) VALUES ('fracture', '99.0', 'x', $1, now() + interval '2 days')",
      [def],
    );
    const m = (await get('/api/public/registries/fracture/metadata')).json();
    const variable = (id: string) => m.forms.flatMap((f: any) => f.variables).find((x: any) => x.id === id);
    const later = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
    const energy = variable('injury_energy').history;
    expect(energy.map((h: any) => [h.version, h.change, h.validTo === null])).toEqual([
      [fracture.version, 'added', false],
      ['99.0', 'changed', true],
    ]);
    expect(energy[0].validTo).toBe(energy[1].validFrom);
    expect(energy[1].validFrom).toBe(later);
    expect(variable('open_fracture').history.map((h: any) => [h.version, h.change])).toEqual([
      [fracture.version, 'added'],
      ['99.0', 'removed'],
    ]);
    // A variable the later version left alone keeps one open period.
    expect(variable('side').history.map((h: any) => [h.change, h.validTo])).toEqual([['added', null]]);
    await t.platform.db.pool.query("DELETE FROM registry_version WHERE registry = 'fracture' AND version = '99.0'");
  });

  it('serves the codebook as CSV and XLSX, the REDCap dictionary, DCAT-AP-NO and FHIR resources; unknown names get a 404 saying what exists', async () => {
    const csv = await get('/api/public/registries/fracture/metadata/codebook.csv');
    expect(csv.statusCode).toBe(200);
    expect(csv.body.split('\n')[0]).toBe(CODEBOOK_COLUMNS.join(','));
    const xlsx = await get('/api/public/registries/fracture/metadata/codebook.xlsx');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(xlsx.rawPayload as never);
    expect(wb.getWorksheet('kodebok')!.rowCount).toBe(
      csv.body.trim().split('\n').length === 0 ? 0 : (parse(csv.body, { columns: true }) as unknown[]).length + 1,
    );
    expect((await get('/api/public/registries/trauma/metadata/redcap.csv')).body).toMatch(/^Variable \/ Field Name,Form Name/);
    const ttl = await get('/api/public/registries/fracture/metadata/dcat.ttl');
    expect(ttl.headers['content-type']).toMatch(/text\/turtle/);
    expect((await validate(ttl.body)).conforms).toBe(true);
    const form = fracture.forms[0];
    const q = (await get(`/api/public/registries/fracture/metadata/Questionnaire/${form.id}`)).json();
    expect(q.resourceType).toBe('Questionnaire');
    expect(q.item.map((i: any) => i.linkId)).toEqual(form.variables.map((v) => v.id));
    const list = fracture.forms.flatMap((f) => f.variables).find((v) => v.codelist)!.codelist!;
    const cs = (await get(`/api/public/registries/fracture/metadata/CodeSystem/${list}`)).json();
    expect(cs.concept.length).toBe(fracture.codelists.get(list)!.codes.size);
    const vs = (await get(`/api/public/registries/fracture/metadata/ValueSet/${list}`)).json();
    expect(vs.compose.include[0].system).toBe(cs.url);
    const missing = await get('/api/public/registries/fracture/metadata/Questionnaire/nosuchform');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatch(/no form "nosuchform"/);
    const unknown = await get('/api/public/registries/nosuch/metadata');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toMatch(/known: .*fracture/);
  });
});
