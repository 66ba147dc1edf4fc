// Loads the shared PROM instruments: every folder under `instruments/` with an instrument.yaml and
// its FHIR Questionnaire. The loader checks that every score names items the Questionnaire has,
// that scored items carry numbers (itemWeight on answer options, or a numeric type), and that a
// declared range is what the weights and rescaling can give, and names file and problem otherwise.
//
// Licensed item texts are not shipped: the Questionnaire in the folder carries placeholders, and a
// text file supplied by the licensee (KVALREG_INSTRUMENT_TEXTS_DIR/<id>.json) replaces them by
// linkId when present. Scoring never depends on texts, only on linkIds and weights.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { instrumentSchema, type InstrumentDef, type ScoreDef, type ValueSetDef } from './instrument-schema.ts';
import { KvalregError } from '../errors.ts';

export class InstrumentError extends KvalregError {
  constructor(readonly problems: string[]) {
    super('internal', `Instrument declarations are invalid:\n  ${problems.join('\n  ')}`, { details: problems });
  }
}

/** The SDC itemWeight extension (R4: ordinalValue is accepted too). */
export const ITEM_WEIGHT = 'http://hl7.org/fhir/StructureDefinition/itemWeight';
const ORDINAL_VALUE = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';
const MIN_VALUE = 'http://hl7.org/fhir/StructureDefinition/minValue';
const MAX_VALUE = 'http://hl7.org/fhir/StructureDefinition/maxValue';

export interface ItemInfo {
  linkId: string;
  type: string;
  text: string;
  required: boolean;
  /** Answer options: code → numeric weight (null when the option carries none) and display. */
  options: Array<{ code: string; display: string; weight: number | null; system?: string }>;
  min: number | null;
  max: number | null;
  /** The item is shown only when another item has a given answer (SDC enableWhen). */
  enableWhen: Array<{ question: string; operator: string; answer: unknown }>;
}

export interface Instrument {
  id: string;
  version: string;
  def: InstrumentDef;
  dir: string;
  /** The FHIR Questionnaire as served (placeholder texts replaced by licensed ones when supplied). */
  questionnaire: Record<string, any>;
  /** Every answerable item, in order. */
  items: Map<string, ItemInfo>;
  scores: Map<string, ScoreDef>;
  valueSets: Map<string, ValueSetDef>;
  /** Whether licensed texts were loaded (false: the placeholders are what patients see). */
  textsLoaded: boolean;
  sha256: string;
}

export interface InstrumentOptions {
  /** A folder with <instrument id>.json files of licensed texts: {"items": {linkId: text}, "options": {linkId: {code: display}}}. */
  textsDir?: string;
}

/** Canonical URL of an instrument's Questionnaire, so responses from elsewhere can name it. */
export function questionnaireUrl(id: string): string {
  return `urn:kvalreg:instrument:${id}`;
}

export function loadInstruments(dir: string, opts: InstrumentOptions = {}): Map<string, Instrument> {
  const problems: string[] = [];
  const out = new Map<string, Instrument>();
  if (!fs.existsSync(dir)) return out;
  const folders = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'instrument.yaml')))
    .map((d) => d.name)
    .sort();
  for (const name of folders) {
    const inst = loadOne(path.join(dir, name), opts, problems);
    if (!inst) continue;
    if (inst.id !== name) problems.push(`${rel(dir, name, 'instrument.yaml')}: id "${inst.id}" must be the folder's name "${name}"`);
    out.set(inst.id, inst);
  }
  if (problems.length) throw new InstrumentError(problems);
  return out;
}

function rel(...parts: string[]): string {
  return path.relative(process.cwd(), path.join(...parts));
}

function loadOne(folder: string, opts: InstrumentOptions, problems: string[]): Instrument | undefined {
  const file = path.join(folder, 'instrument.yaml');
  const where = rel(file);
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    problems.push(`${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  const parsed = instrumentSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) problems.push(`${where}: ${i.path.join('.') || '(top)'}: ${i.message}`);
    return undefined;
  }
  const def = parsed.data;
  const qFile = path.join(folder, def.questionnaire);
  let questionnaire: Record<string, any>;
  try {
    questionnaire = JSON.parse(fs.readFileSync(qFile, 'utf8'));
  } catch (err) {
    problems.push(`${rel(qFile)}: ${(err as Error).message}`);
    return undefined;
  }
  if (questionnaire.resourceType !== 'Questionnaire' || !Array.isArray(questionnaire.item)) {
    problems.push(`${rel(qFile)}: not a FHIR Questionnaire with items`);
    return undefined;
  }
  questionnaire.url = questionnaireUrl(def.id);
  questionnaire.version = def.version;
  questionnaire.id = def.id;

  let textsLoaded = false;
  const textsFile = opts.textsDir ? path.join(opts.textsDir, `${def.id}.json`) : undefined;
  if (textsFile && fs.existsSync(textsFile)) {
    try {
      applyTexts(questionnaire, JSON.parse(fs.readFileSync(textsFile, 'utf8')));
      textsLoaded = true;
    } catch (err) {
      problems.push(`${rel(textsFile)}: ${(err as Error).message}`);
    }
  }

  const items = new Map<string, ItemInfo>();
  walkItems(questionnaire.item, (item) => {
    if (item.type === 'group' || item.type === 'display') return;
    if (items.has(item.linkId)) problems.push(`${rel(qFile)}: linkId "${item.linkId}" is used twice`);
    items.set(item.linkId, itemInfo(item));
  });
  for (const it of items.values())
    for (const ew of it.enableWhen) {
      if (!items.has(ew.question)) problems.push(`${rel(qFile)}: item ${it.linkId}: enableWhen refers to unknown item "${ew.question}"`);
    }

  const scores = new Map(def.scores.map((s) => [s.id, s]));
  const valueSets = new Map(def.valueSets.map((v) => [v.id, v]));
  const sourceIds = new Set(def.sources.map((s) => s.id));
  def.scores.forEach((s, i) => {
    const at = `${where}: scores[${i}] (${s.id})`;
    if (!sourceIds.has(s.source)) problems.push(`${at}.source: unknown source "${s.source}"`);
    const combining = s.method === 'scores-sum' || s.method === 'scores-mean';
    if (combining) {
      if (!s.scores.length) problems.push(`${at}: ${s.method} needs scores`);
      for (const o of s.scores)
        if (!scores.has(o) || def.scores.findIndex((x) => x.id === o) >= i)
          problems.push(`${at}.scores: "${o}" must be a score declared before this one`);
    } else if (!s.items.length) problems.push(`${at}: give the items it is computed from`);
    for (const linkId of s.items) {
      const it = items.get(linkId);
      if (!it) {
        problems.push(`${at}.items: the Questionnaire has no item "${linkId}"`);
        continue;
      }
      if (s.method !== 'profile' && it.options.length && it.options.some((o) => o.weight === null))
        problems.push(`${at}.items: "${linkId}" has answer options without itemWeight`);
      if (!it.options.length && !['integer', 'decimal'].includes(it.type))
        problems.push(`${at}.items: "${linkId}" is a ${it.type}; a scored item needs weighted answer options or a number`);
    }
    if (s.minAnswered !== undefined && s.minAnswered > s.items.length)
      problems.push(`${at}.minAnswered: ${s.minAnswered} is more than the ${s.items.length} items`);
    if (s.onlyWhen && !items.has(s.onlyWhen.item)) problems.push(`${at}.onlyWhen.item: unknown item "${s.onlyWhen.item}"`);
    if (s.method === 'value-set') {
      if (!def.defaultValueSet || !valueSets.has(def.defaultValueSet))
        problems.push(`${at}: a value-set score needs defaultValueSet naming a declared value set`);
      for (const v of def.valueSets)
        if (v.decrements)
          for (const linkId of s.items)
            if (!v.decrements[linkId]) problems.push(`${where}: valueSets (${v.id}): no decrements for item "${linkId}"`);
    }
    if (s.range && !combining && s.method !== 'profile' && s.method !== 'value-set') {
      const span = possibleRange(s, items);
      if (span && (Math.abs(span[0] - s.range[0]) > 1e-9 || Math.abs(span[1] - s.range[1]) > 1e-9))
        problems.push(`${at}.range: declared [${s.range.join(', ')}] but the items' weights give [${span.join(', ')}]`);
    }
  });
  for (const v of def.valueSets)
    if (!sourceIds.has(v.source)) problems.push(`${where}: valueSets (${v.id}).source: unknown source "${v.source}"`);
  if (def.fallbackValueSet && valueSets.get(def.fallbackValueSet)?.status !== 'verified')
    problems.push(`${where}: fallbackValueSet must name a verified value set`);
  const sha256 = crypto.createHash('sha256').update(fs.readFileSync(file)).update(JSON.stringify(questionnaire)).digest('hex');
  return { id: def.id, version: def.version, def, dir: folder, questionnaire, items, scores, valueSets, textsLoaded, sha256 };
}

export function walkItems(list: any[] | undefined, fn: (item: any) => void): void {
  for (const item of list ?? []) {
    fn(item);
    walkItems(item.item, fn);
  }
}

function ext(node: any, url: string): any {
  return (node?.extension ?? []).find((e: any) => e.url === url);
}

function itemInfo(item: any): ItemInfo {
  const options = (item.answerOption ?? []).map((o: any) => {
    const w = ext(o, ITEM_WEIGHT) ?? ext(o, ORDINAL_VALUE) ?? ext(o.valueCoding, ITEM_WEIGHT) ?? ext(o.valueCoding, ORDINAL_VALUE);
    const code = o.valueCoding?.code ?? (o.valueInteger !== undefined ? String(o.valueInteger) : o.valueString);
    return {
      code: String(code),
      display: o.valueCoding?.display ?? String(code),
      weight: typeof w?.valueDecimal === 'number' ? w.valueDecimal : typeof w?.valueInteger === 'number' ? w.valueInteger : null,
      system: o.valueCoding?.system,
    };
  });
  const num = (e: any) => (e ? (e.valueInteger ?? e.valueDecimal ?? null) : null);
  return {
    linkId: String(item.linkId),
    type: String(item.type),
    text: String(item.text ?? ''),
    required: item.required === true,
    options,
    min: num(ext(item, MIN_VALUE)),
    max: num(ext(item, MAX_VALUE)),
    enableWhen: (item.enableWhen ?? []).map((e: any) => ({
      question: e.question,
      operator: e.operator,
      answer: e.answerBoolean ?? e.answerCoding?.code ?? e.answerInteger ?? e.answerDecimal ?? e.answerString,
    })),
  };
}

/** The lowest and highest value the score can take, from the weights (or min/max) of its items. */
function possibleRange(s: ScoreDef, items: Map<string, ItemInfo>): [number, number] | null {
  const spans = s.items.map((l) => {
    const it = items.get(l);
    if (!it) return null;
    const ws = it.options.map((o) => o.weight).filter((w): w is number => w !== null);
    if (ws.length) return [Math.min(...ws), Math.max(...ws)] as [number, number];
    return it.min !== null && it.max !== null ? ([it.min, it.max] as [number, number]) : null;
  });
  if (spans.some((x) => x === null)) return null;
  const lo = spans.map((x) => x![0]),
    hi = spans.map((x) => x![1]);
  let a: number, b: number;
  if (s.method === 'sum') {
    a = lo.reduce((x, y) => x + y, 0);
    b = hi.reduce((x, y) => x + y, 0);
  } else if (s.method === 'mean') {
    a = Math.min(...lo);
    b = Math.max(...hi);
  } else {
    a = lo[0];
    b = hi[0];
  }
  if (s.rescale) {
    const f = (v: number) =>
      s.rescale!.to[0] + ((v - s.rescale!.from[0]) * (s.rescale!.to[1] - s.rescale!.to[0])) / (s.rescale!.from[1] - s.rescale!.from[0]);
    [a, b] = [f(a), f(b)].sort((x, y) => x - y) as [number, number];
  }
  return [a, b];
}

/** Replaces placeholder texts with the licensee's, by linkId (and option code). Unknown linkIds are an error: the file is for another version. */
function applyTexts(
  q: Record<string, any>,
  texts: { items?: Record<string, string>; options?: Record<string, Record<string, string>>; title?: string },
): void {
  const known = new Set<string>();
  walkItems(q.item, (item) => {
    known.add(item.linkId);
    const t = texts.items?.[item.linkId];
    if (typeof t === 'string') item.text = t;
    const opts = texts.options?.[item.linkId];
    if (opts)
      for (const o of item.answerOption ?? [])
        if (o.valueCoding && typeof opts[o.valueCoding.code] === 'string') o.valueCoding.display = opts[o.valueCoding.code];
  });
  const unknown = [...Object.keys(texts.items ?? {}), ...Object.keys(texts.options ?? {})].filter((l) => !known.has(l));
  if (unknown.length)
    throw new Error(
      `texts for items the Questionnaire does not have: ${unknown.slice(0, 5).join(', ')} (is the file for another version?)`,
    );
  if (typeof texts.title === 'string') q.title = texts.title;
}
