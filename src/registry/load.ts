// Loads and validates registry definition folders. Every problem is reported with the file, the
// path inside it and what is wrong, so a registry author can fix the definition without reading code.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { type z } from 'zod';
import { buildCodeList, buildVersionMap, type CodeList } from './codelists.ts';
import { compileExpression, ExpressionError, expressionVariables, type Compiled, type RegistryFunction } from './expr.ts';
import { compileFhirPath, type FhirPathFn } from './fhirpath.ts';
import { screeningSchema, type ScreeningDef } from '../screening/schema.ts';
import { checkParameterUse, loadParameters, parameterFunction, type ParameterDef } from './parameters.ts';
import {
  codebookSchema,
  mappingSchema,
  PRIVACY_ORDER,
  registrySchema,
  type CodebookDef,
  type EventDef,
  type PrivacyClass,
  type DerivedDef,
  type FormDef,
  type MappingDef,
  type RegistryMeta,
  type RuleDef,
  type SourceDef,
  type VariableDef,
  type VariableType,
} from './schema.ts';
import { KvalregError } from '../errors.ts';

export class DefinitionError extends KvalregError {
  constructor(readonly problems: string[]) {
    super('internal', `Registry definition is invalid:\n  ${problems.join('\n  ')}`, { details: problems });
  }
}

/** Values every case has from its person, usable in expressions. */
export const PERSON_VARIABLES = ['birth_date', 'sex', 'deceased_date'] as const;
/** Their privacy classes: dates of birth and death identify indirectly. */
export const PERSON_PRIVACY: Record<(typeof PERSON_VARIABLES)[number], PrivacyClass> = {
  birth_date: 'indirect-identifier',
  sex: 'general',
  deceased_date: 'indirect-identifier',
};

export interface CompiledSource {
  def: SourceDef;
  where: FhirPathFn | undefined;
  linkPath: FhirPathFn | undefined;
  values: Array<{ variable: string; fn: FhirPathFn }>;
}

export interface Registry {
  id: string;
  version: string;
  sha256: string;
  dir: string;
  meta: RegistryMeta;
  codebook: CodebookDef;
  mapping: MappingDef;
  forms: FormDef[];
  variables: Map<string, { def: VariableDef; form: FormDef }>;
  codelists: Map<string, CodeList>;
  /** In declaration order: each may use those before it. `count` ones count repeating-form instances, `collect` ones gather
   *  their values. With their privacy class (declared, or the strictest of their inputs) and the variables they read. */
  derived: Array<{
    def: DerivedDef;
    fn: Compiled;
    privacy: PrivacyClass;
    inputs: string[];
    count?: { form: string; where: Compiled | undefined };
    collect?: { form: string; variable: string; where: Compiled | undefined };
    /** A PROM result (checked against prom.yaml and the instruments where those are loaded: src/prom/schedule.ts). */
    prom?: NonNullable<DerivedDef['prom']>;
  }>;
  /** Declared parameters (`parameters.yaml`): values the registry sets, e.g. thresholds per fracture type; `parameter(id, key)` in expressions. */
  parameters: Map<string, ParameterDef>;
  rules: Array<{ def: RuleDef; when: Compiled | undefined; assert: Compiled }>;
  requiredWhen: Map<string, Compiled | true>;
  include: Compiled;
  refer: Array<{ when: Compiled; to: string; name: { nb: string; en: string } }>;
  anchor: { resource: string; where: FhirPathFn };
  sources: CompiledSource[];
  versionMaps: Map<string, ReturnType<typeof buildVersionMap>>;
  /** The screening worklist declared in `screening.yaml`, if the registry has one. */
  screening?: ScreeningDef;
  /** Event identity across cases, declared in mapping.yaml `event`. */
  event?: { def: EventDef; joins: Compiled | undefined };
  /** The definition as stored with each version (for metadata and history). */
  definition: { registry: RegistryMeta; codebook: CodebookDef; mapping: MappingDef };
}

function readYaml<T>(file: string, schema: z.ZodType<T>, problems: string[]): T | undefined {
  const rel = path.relative(process.cwd(), file);
  if (!fs.existsSync(file)) {
    problems.push(`${rel}: file is missing`);
    return undefined;
  }
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${rel}: ${formatPath(issue.path) || '(top)'}: ${issue.message}`);
    }
    return undefined;
  }
  return parsed.data;
}

function formatPath(p: PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}

/**
 * A registry's code module (`functions`, `import`): the TypeScript source, or the JavaScript the
 * production build compiled it to (dist/registries/<id>/functions.js); undefined when it has none.
 */
export function registryModule(dir: string, name: string): string | undefined {
  return ['.ts', '.js'].map((ext) => path.join(dir, `${name}${ext}`)).find((f) => fs.existsSync(f));
}

async function loadFunctions(dir: string): Promise<Record<string, RegistryFunction>> {
  const file = registryModule(dir, 'functions');
  if (!file) return {};
  const mod = await import(pathToFileURL(file).href);
  return Object.fromEntries(Object.entries(mod).filter(([, v]) => typeof v === 'function')) as Record<string, RegistryFunction>;
}

/**
 * Loads one registry folder: each step below has one job and reports what is wrong into the same
 * list of problems, so an author sees every problem at once; only when the three declaration files
 * cannot be read does loading stop early. The order is the order problems are reported in.
 */
export async function loadRegistry(dir: string): Promise<Registry> {
  const load: Load = { dir, problems: [], rel: (f) => path.relative(process.cwd(), path.join(dir, f)) };
  const { meta, codebook, mapping } = readDeclarations(load);
  const functions = await loadFunctions(dir);
  const codelists = resolveCodeLists(load, codebook);
  const variables = indexVariables(load, codebook, codelists);
  const parameters = loadParameters(dir, load.problems);
  addPlatformFunctions(functions, parameters, codelists);
  const compile = expressionCompiler(load, codebook, variables, functions);
  const derived = derivePrivacy(variables, compileDerived(load, codebook, compile));
  const rules = compileRules(load, codebook, variables, compile);
  const requiredWhen = compileRequiredWhen(load, variables, compile);
  checkCaseLevelVariables(load, meta, codebook, variables);
  const { include, refer } = compileInclusion(load, meta, compile);
  const { anchor, sources } = compileMapping(load, mapping, variables);
  const event = compileEvent(load, mapping, variables, compile);
  const versionMaps = buildVersionMaps(load, codebook, codelists);
  const screening = readScreening(load);
  checkParameters(load, parameters, codebook, variables);
  if (load.problems.length) throw new DefinitionError(load.problems);
  return {
    id: meta.id,
    version: meta.version,
    sha256: folderHash(dir),
    dir,
    meta,
    codebook,
    mapping,
    forms: codebook.forms,
    variables,
    codelists,
    derived,
    rules,
    requiredWhen,
    include,
    refer,
    anchor,
    sources,
    versionMaps,
    definition: { registry: meta, codebook, mapping },
    parameters,
    ...(screening ? { screening } : {}),
    ...(event ? { event } : {}),
  };
}

/** What every loading step reads and reports into: the folder, the problems so far, a file's path as shown. */
interface Load {
  dir: string;
  problems: string[];
  rel: (file: string) => string;
}
type Variables = Registry['variables'];
type Compile = (source: string, where: string) => Compiled;
type CompiledDerived = Omit<Registry['derived'][number], 'privacy'>;

/** registry.yaml, codebook.yaml and mapping.yaml, each checked against its schema; without all three nothing else can be checked. */
function readDeclarations(load: Load): { meta: RegistryMeta; codebook: CodebookDef; mapping: MappingDef } {
  const meta = readYaml(path.join(load.dir, 'registry.yaml'), registrySchema, load.problems);
  const codebook = readYaml(path.join(load.dir, 'codebook.yaml'), codebookSchema, load.problems);
  const mapping = readYaml(path.join(load.dir, 'mapping.yaml'), mappingSchema, load.problems);
  if (!meta || !codebook || !mapping) throw new DefinitionError(load.problems);
  return { meta, codebook, mapping };
}

/** The codebook's code lists, built from their declarations and files. */
function resolveCodeLists(load: Load, codebook: CodebookDef): Map<string, CodeList> {
  const codelists = new Map<string, CodeList>();
  codebook.codelists.forEach((c, i) => {
    try {
      codelists.set(c.id, buildCodeList(c, load.dir));
    } catch (err) {
      load.problems.push(`${load.rel('codebook.yaml')}: codelists[${i}] (${c.id}): ${(err as Error).message}`);
    }
  });
  return codelists;
}

/** Every form's variables by id: ids unique in the registry, code variables with a known code list. */
function indexVariables(load: Load, codebook: CodebookDef, codelists: Map<string, CodeList>): Variables {
  const variables: Variables = new Map();
  codebook.forms.forEach((form, fi) =>
    form.variables.forEach((v, vi) => {
      const where = `${load.rel('codebook.yaml')}: forms[${fi}].variables[${vi}] (${v.id})`;
      if (variables.has(v.id))
        load.problems.push(`${where}: variable id is already used in form ${variables.get(v.id)!.form.id}; ids are unique in a registry`);
      if (v.type === 'code' && !v.codelist) load.problems.push(`${where}: a code variable needs a codelist`);
      if (v.codelist && !codelists.has(v.codelist)) load.problems.push(`${where}: unknown codelist "${v.codelist}"`);
      variables.set(v.id, { def: v, form });
    }),
  );
  return variables;
}

/** The functions every expression of a registry has beside its own: parameter(id, key) and code-list look-ups. */
function addPlatformFunctions(
  functions: Record<string, RegistryFunction>,
  parameters: Map<string, ParameterDef>,
  codelists: Map<string, CodeList>,
): void {
  functions.parameter = parameterFunction(parameters);
  functions.codeProperty = (list, code, property) => {
    if (code === null || code === undefined || code === '') return null;
    return codelists.get(String(list))?.properties.get(String(code))?.[String(property)] ?? null;
  };
}

/**
 * Compiles one expression of the registry, reporting a problem (and giving a function that yields
 * null) when it does not compile. The codebook's types go with it, so that an expression means in
 * forms and capture what it means in SQL (expr-types.ts) and an ill-typed one is refused here.
 */
function expressionCompiler(load: Load, codebook: CodebookDef, variables: Variables, functions: Record<string, RegistryFunction>): Compile {
  const names = new Set<string>([...variables.keys(), ...codebook.derived.map((d) => d.id), ...PERSON_VARIABLES]);
  const types = new Map<string, VariableType>([
    ...[...variables].map(([id, v]) => [id, v.def.type] as const),
    ...codebook.derived.map((d) => [d.id, d.type] as const),
    ['birth_date', 'date'],
    ['sex', 'code'],
    ['deceased_date', 'date'],
  ]);
  return (source, where) => {
    try {
      return compileExpression(source, { variables: names, functions, types });
    } catch (err) {
      load.problems.push(`${where}: ${err instanceof ExpressionError ? err.message : String(err)}`);
      return () => null;
    }
  };
}

/** The derived values: counted or collected from a repeating form, a PROM result, or an expression. */
function compileDerived(load: Load, codebook: CodebookDef, compile: Compile): CompiledDerived[] {
  const problems = load.problems;
  return codebook.derived.map((d, i): CompiledDerived => {
    const where = `${load.rel('codebook.yaml')}: derived[${i}] (${d.id})`;
    if (d.count) {
      const form = codebook.forms.find((f) => f.id === d.count!.form);
      if (!form) problems.push(`${where}.count.form: unknown form "${d.count.form}"`);
      else if (!form.repeating) problems.push(`${where}.count.form: form "${form.id}" is not repeating; count needs a repeating form`);
      const inputs = d.count.where ? safeVariables(d.count.where) : [];
      return {
        def: d,
        fn: () => null,
        inputs,
        count: { form: d.count.form, where: d.count.where ? compile(d.count.where, `${where}.count.where`) : undefined },
      };
    }
    if (d.collect) {
      const form = codebook.forms.find((f) => f.id === d.collect!.form);
      if (!form) problems.push(`${where}.collect.form: unknown form "${d.collect.form}"`);
      else if (!form.repeating) problems.push(`${where}.collect.form: form "${form.id}" is not repeating; collect needs a repeating form`);
      else if (!form.variables.some((v) => v.id === d.collect!.variable))
        problems.push(`${where}.collect.variable: form "${form.id}" has no variable "${d.collect.variable}"`);
      if (d.type !== 'text') problems.push(`${where}.type: collect gives a comma-separated text; declare type text`);
      return {
        def: d,
        fn: () => null,
        inputs: [d.collect.variable, ...(d.collect.where ? safeVariables(d.collect.where) : [])],
        collect: {
          form: d.collect.form,
          variable: d.collect.variable,
          where: d.collect.where ? compile(d.collect.where, `${where}.collect.where`) : undefined,
        },
      };
    }
    if (d.prom) {
      if (!['decimal', 'integer', 'text', 'code', 'date'].includes(d.type))
        problems.push(`${where}.type: a PROM result is a number, a text or (answered) a date`);
      return { def: d, fn: () => null, inputs: [], prom: d.prom };
    }
    return { def: d, fn: compile(d.expr!, `${where}.expr`), inputs: safeVariables(d.expr!) };
  });
}

/** A derived value is as protected as the most protected value it is computed from, unless declared. */
function derivePrivacy(variables: Variables, compiledDerived: CompiledDerived[]): Registry['derived'] {
  const privacyOf = new Map<string, PrivacyClass>();
  const derivedPrivacy = (id: string, seen: Set<string>): PrivacyClass => {
    const known = variables.get(id)?.def.privacy ?? PERSON_PRIVACY[id as keyof typeof PERSON_PRIVACY] ?? privacyOf.get(id);
    if (known) return known;
    const d = compiledDerived.find((x) => x.def.id === id);
    if (!d || seen.has(id)) return 'general';
    const p = d.def.privacy ?? strictest(d.inputs.map((v) => derivedPrivacy(v, new Set([...seen, id]))));
    privacyOf.set(id, p);
    return p;
  };
  return compiledDerived.map((d) => ({ ...d, privacy: derivedPrivacy(d.def.id, new Set()) }));
}

/** The codebook's rules: each names known variables, and its when and assert compile. */
function compileRules(load: Load, codebook: CodebookDef, variables: Variables, compile: Compile): Registry['rules'] {
  return codebook.rules.map((r, i) => {
    const where = `${load.rel('codebook.yaml')}: rules[${i}] (${r.id})`;
    for (const v of r.variables) if (!variables.has(v)) load.problems.push(`${where}.variables: unknown variable "${v}"`);
    return { def: r, when: r.when ? compile(r.when, `${where}.when`) : undefined, assert: compile(r.assert, `${where}.assert`) };
  });
}

/** Which variables are required: always, or when their expression holds. */
function compileRequiredWhen(load: Load, variables: Variables, compile: Compile): Registry['requiredWhen'] {
  const requiredWhen: Registry['requiredWhen'] = new Map();
  for (const [id, { def }] of variables) {
    if (def.required === true) requiredWhen.set(id, true);
    else if (typeof def.required === 'string')
      requiredWhen.set(id, compile(def.required, `${load.rel('codebook.yaml')}: variable ${id}.required`));
  }
  return requiredWhen;
}

/** The case date and the header name variables of the case (form or derived), one value per case. */
function checkCaseLevelVariables(load: Load, meta: RegistryMeta, codebook: CodebookDef, variables: Variables): void {
  const caseLevel = (v: string) => (variables.has(v) && !variables.get(v)!.form.repeating) || codebook.derived.some((d) => d.id === v);
  if (meta.caseDate) {
    const type = variables.get(meta.caseDate)?.def.type ?? codebook.derived.find((d) => d.id === meta.caseDate)?.type;
    if (!caseLevel(meta.caseDate))
      load.problems.push(`${load.rel('registry.yaml')}: caseDate: "${meta.caseDate}" is not a variable with one value per case`);
    else if (type !== 'date' && type !== 'datetime')
      load.problems.push(`${load.rel('registry.yaml')}: caseDate: "${meta.caseDate}" is a ${type}; it must be a date or date-time`);
  }
  meta.header.forEach((v, i) => {
    if (!caseLevel(v)) load.problems.push(`${load.rel('registry.yaml')}: header[${i}]: "${v}" is not a variable with one value per case`);
  });
}

/** Who is included in the registry, and who is referred to another one. */
function compileInclusion(load: Load, meta: RegistryMeta, compile: Compile): Pick<Registry, 'include' | 'refer'> {
  const include = compile(meta.inclusion.include, `${load.rel('registry.yaml')}: inclusion.include`);
  const refer = meta.inclusion.refer.map((r, i) => ({
    when: compile(r.when, `${load.rel('registry.yaml')}: inclusion.refer[${i}].when`),
    to: r.to,
    name: r.name,
  }));
  return { include, refer };
}

/** mapping.yaml's FHIRPath: the anchor resource, and each source's selection, link and values, onto known variables. */
function compileMapping(load: Load, mapping: MappingDef, variables: Variables): Pick<Registry, 'anchor' | 'sources'> {
  const { problems, rel } = load;
  const fp = (expr: string, where: string): FhirPathFn => {
    try {
      return compileFhirPath(expr);
    } catch (err) {
      problems.push(`${where}: FHIRPath "${expr}": ${(err as Error).message.split('\n')[0]}`);
      return () => [];
    }
  };
  const anchor = { resource: mapping.anchor.resource, where: fp(mapping.anchor.where, `${rel('mapping.yaml')}: anchor.where`) };
  if (!variables.has(mapping.unitVariable))
    problems.push(`${rel('mapping.yaml')}: unitVariable: unknown variable "${mapping.unitVariable}"`);
  const sources: CompiledSource[] = mapping.sources.map((s, i) => {
    const where = `${rel('mapping.yaml')}: sources[${i}] (${s.resource})`;
    if (s.link === 'anchor' && s.resource !== mapping.anchor.resource)
      problems.push(`${where}: link "anchor" but the anchor is a ${mapping.anchor.resource}`);
    const values = Object.entries(s.values).map(([variable, expr]) => {
      if (!variables.has(variable)) problems.push(`${where}.values.${variable}: unknown variable`);
      return { variable, fn: fp(expr, `${where}.values.${variable}`) };
    });
    for (const v of Object.keys(s.constants ?? {})) if (!variables.has(v)) problems.push(`${where}.constants.${v}: unknown variable`);
    return {
      def: s,
      where: s.where ? fp(s.where, `${where}.where`) : undefined,
      linkPath: s.path ? fp(s.path, `${where}.path`) : undefined,
      values,
    };
  });
  return { anchor, sources };
}

/** Event identity across cases (mapping.yaml `event`): variables with one value per case, of the right type. */
function compileEvent(load: Load, mapping: MappingDef, variables: Variables, compile: Compile): Registry['event'] {
  if (!mapping.event) return undefined;
  const e = mapping.event,
    where = `${load.rel('mapping.yaml')}: event`;
  const plain = (v: string | undefined, field: string, types: string[]) => {
    if (v === undefined) return;
    const entry = variables.get(v);
    if (!entry) load.problems.push(`${where}.${field}: unknown variable "${v}"`);
    else if (entry.form.repeating)
      load.problems.push(
        `${where}.${field}: "${v}" is on the repeating form "${entry.form.id}"; an event variable must have one value per case`,
      );
    else if (types.length && !types.includes(entry.def.type))
      load.problems.push(`${where}.${field}: "${v}" is a ${entry.def.type}; expected ${types.join(' or ')}`);
  };
  plain(e.startDate, 'startDate', ['date', 'datetime']);
  plain(e.distinctBy, 'distinctBy', []);
  plain(e.sameDay, 'sameDay', ['date', 'datetime']);
  plain(e.joinsFrom, 'joinsFrom', ['text', 'code']);
  if (e.joinsFrom && !e.joins) load.problems.push(`${where}.joinsFrom: needs joins (which cases join an event)`);
  return { def: e, joins: e.joins ? compile(e.joins, `${where}.joins`) : undefined };
}

/** The maps from an older version of a code list to the codes they became. */
function buildVersionMaps(load: Load, codebook: CodebookDef, codelists: Map<string, CodeList>): Registry['versionMaps'] {
  const versionMaps: Registry['versionMaps'] = new Map();
  codebook.codeVersionMaps.forEach((m, i) => {
    if (!codelists.has(m.codelist))
      load.problems.push(`${load.rel('codebook.yaml')}: codeVersionMaps[${i}]: unknown codelist "${m.codelist}"`);
    try {
      versionMaps.set(m.codelist, buildVersionMap(path.join(load.dir, m.file)));
    } catch (err) {
      load.problems.push(`${load.rel('codebook.yaml')}: codeVersionMaps[${i}]: ${(err as Error).message}`);
    }
  });
  return versionMaps;
}

/** The screening worklist (screening.yaml), when the registry has one: its steps name declared columns and kinds. */
function readScreening(load: Load): ScreeningDef | undefined {
  if (!fs.existsSync(path.join(load.dir, 'screening.yaml'))) return undefined;
  const screening = readYaml(path.join(load.dir, 'screening.yaml'), screeningSchema, load.problems);
  if (!screening) return undefined;
  const kinds = new Set(screening.departmentKinds.map((k) => k.code));
  screening.steps.forEach((st, i) => {
    const where = `${load.rel('screening.yaml')}: steps[${i}] (${st.id})`;
    if (st.kind === 'drop-flagged' && !screening.flagColumns.includes(st.column))
      load.problems.push(`${where}.column: "${st.column}" is not in flagColumns`);
    if (st.kind === 'drop-department')
      for (const k of st.departmentKinds)
        if (!kinds.has(k)) load.problems.push(`${where}.departmentKinds: "${k}" is not a declared department kind`);
  });
  return screening;
}

/** Every parameter(id, key) in the derived expressions names a declared parameter and key. */
function checkParameters(load: Load, parameters: Map<string, ParameterDef>, codebook: CodebookDef, variables: Variables): void {
  checkParameterUse(
    parameters,
    [
      ...codebook.derived.flatMap((d, i) =>
        d.expr ? [{ source: d.expr, where: `${load.rel('codebook.yaml')}: derived[${i}] (${d.id})` }] : [],
      ),
    ],
    new Set([...variables.keys(), ...codebook.derived.map((d) => d.id), ...PERSON_VARIABLES]),
    load.rel('parameters.yaml'),
    load.problems,
  );
}

/**
 * Files of a registry folder that are policy, not definition: the data-quality thresholds are read
 * when a measure is judged (src/quality/), so changing them neither needs a new version nor
 * recomputes anything.
 */
export const POLICY_FILES = new Set(['quality-thresholds.yaml']);

/** A hash of every file in the registry folder: code lists and functions are part of the definition too. */
function folderHash(dir: string): string {
  const hash = crypto.createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (d === dir && POLICY_FILES.has(e.name)) continue;
      else {
        hash.update(path.relative(dir, p));
        hash.update('\0');
        hash.update(fs.readFileSync(p));
        hash.update('\0');
      }
    }
  };
  walk(dir);
  return hash.digest('hex');
}

/** Loads every folder under `dir` that holds a registry.yaml. */
export async function loadRegistries(dir: string): Promise<Registry[]> {
  const folders = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'registry.yaml')))
    .map((d) => path.join(dir, d.name))
    .sort();
  const registries: Registry[] = [];
  for (const folder of folders) registries.push(await loadRegistry(folder));
  return registries;
}

function strictest(classes: PrivacyClass[]): PrivacyClass {
  return classes.reduce<PrivacyClass>((a, b) => (PRIVACY_ORDER.indexOf(b) > PRIVACY_ORDER.indexOf(a) ? b : a), 'general');
}

function safeVariables(source: string): string[] {
  try {
    return expressionVariables(source);
  } catch {
    return [];
  } // a parse error is reported by compile
}
