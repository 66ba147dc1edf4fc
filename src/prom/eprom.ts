// Historical PROM answers kept as flat key/value records (the shape ePROM and similar systems
// export: one record per completed form, a column per question), turned into QuestionnaireResponse
// Bundles so they enter through the same capture pipeline as answers sent live (`kvalreg import
// FILE --format eprom`): scored by the same code, matched to the schedules, idempotent.
//
// A record (a CSV row, or an object in a JSON array or NDJSON line) has:
//   national_id (or fnr, nin)            the patient's identity number
//   instrument  (or questionnaire, form) an instrument id (eq5d5l) or its canonical URL; may be left
//                                        out when the answer columns are named <instrument>.<linkId>
//   answered    (or authored, answered_at, date)  when the patient answered (date or date-time)
//   id          (or response_id)         the record's own id, optional: without it a record is
//                                        known by patient, instrument, time and recall
//   recall      optional: current or pre-injury
//   status      optional: completed (default), in-progress
//   every other column: an answer by linkId (or <instrument>.<linkId>); an empty cell is no answer.
import crypto from 'node:crypto';
import { parse } from 'csv-parse/sync';
import { AUX_SYSTEM, NIN_SYSTEMS } from '../capture/identity.ts';
import { isAuxiliaryNumber, parseNin } from '../identity/nin.ts';
import { isDateTime, isRealDate } from '../registry/values.ts';
import { responseItems } from './answers.ts';
import { RECALL_EXTENSION } from './capture.ts';
import type { Instrument } from './instruments.ts';
import type { Answers } from './scoring.ts';

const FIELDS = {
  nin: ['national_id', 'fnr', 'nin', 'fodselsnummer'],
  instrument: ['instrument', 'questionnaire', 'form'],
  answered: ['answered', 'authored', 'answered_at', 'date'],
  id: ['id', 'response_id'],
  recall: ['recall'],
  status: ['status'],
} as const;
const RESERVED = new Set(Object.values(FIELDS).flat());

/** The identifier system of imported responses when the import names none. */
export const EPROM_ID_SYSTEM = 'urn:kvalreg:prom-import';

export interface ResponseSpec {
  instrument: Instrument;
  answers: Answers;
  nin: string;
  authored: string;
  identifier: { system: string; value: string };
  status?: 'completed' | 'in-progress' | 'entered-in-error';
  recall?: 'current' | 'pre-injury';
  /** The invitation answered (its id), when known. */
  invitation?: number;
}

/** The identifier system for a national identity number (or an auxiliary number), from the number itself. */
export function ninSystem(nin: string): string | null {
  if (isAuxiliaryNumber(nin)) return AUX_SYSTEM;
  const p = parseNin(nin);
  if (!p.ok) return null;
  const base = p.kind.replace('synthetic-', '');
  return Object.entries(NIN_SYSTEMS).find(([, k]) => k === base)?.[0] ?? null;
}

/** A QuestionnaireResponse for flat answers, the patient named by identifier (no Patient entry needed). */
export function questionnaireResponse(s: ResponseSpec): Record<string, unknown> {
  return {
    resourceType: 'QuestionnaireResponse',
    identifier: s.identifier,
    questionnaire: `${s.instrument.questionnaire.url}|${s.instrument.version}`,
    status: s.status ?? 'completed',
    subject: { identifier: { system: ninSystem(s.nin) ?? NIN_SYSTEMS_FNR, value: s.nin } },
    authored: s.authored,
    ...(s.recall ? { extension: [{ url: RECALL_EXTENSION, valueCode: s.recall }] } : {}),
    ...(s.invitation !== undefined
      ? { basedOn: [{ type: 'Task', identifier: { system: 'urn:kvalreg:prom-invitation', value: String(s.invitation) } }] }
      : {}),
    item: responseItems(s.instrument.questionnaire, s.answers),
  };
}
const NIN_SYSTEMS_FNR = 'urn:oid:2.16.578.1.12.4.1.4.1';

/** One batch Bundle of responses (each entry its own patient group: one bad record does not stop the others). */
export function responseBundle(responses: Array<Record<string, unknown>>): Record<string, unknown> {
  return {
    resourceType: 'Bundle',
    type: 'batch',
    entry: responses.map((resource) => ({ resource, request: { method: 'POST', url: 'QuestionnaireResponse' } })),
  };
}

export interface FlatRecordResult {
  records: number;
  bundles: Array<{ bundle: Record<string, unknown>; lines: string }>;
  problems: string[];
}

/** Reads a file of flat records (CSV, a JSON array, or NDJSON) into batches of QuestionnaireResponses. */
export function flatAnswersToBundles(
  text: string,
  instruments: Map<string, Instrument>,
  opts: { idSystem?: string; batchSize?: number } = {},
): FlatRecordResult {
  const rows = readRecords(text);
  const problems: string[] = [];
  const responses: Array<{ resource: Record<string, unknown>; line: number }> = [];
  for (const { line, record } of rows) {
    const made = recordToResponses(record, instruments, opts.idSystem ?? EPROM_ID_SYSTEM);
    if (typeof made === 'string') {
      problems.push(`record ${line}: ${made}`);
      continue;
    }
    for (const resource of made) responses.push({ resource, line });
  }
  const size = opts.batchSize ?? 100;
  const bundles: FlatRecordResult['bundles'] = [];
  for (let i = 0; i < responses.length; i += size) {
    const part = responses.slice(i, i + size);
    bundles.push({
      bundle: responseBundle(part.map((p) => p.resource)),
      lines:
        part[0].line === part[part.length - 1].line ? `record ${part[0].line}` : `records ${part[0].line}–${part[part.length - 1].line}`,
    });
  }
  return { records: rows.length, bundles, problems };
}

function readRecords(text: string): Array<{ line: number; record: Record<string, unknown> }> {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`the file is not valid JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(json)) throw new Error('a JSON file must be an array of records');
    return json.map((record, i) => ({ line: i + 1, record: record as Record<string, unknown> }));
  }
  if (trimmed.startsWith('{')) {
    return trimmed
      .split('\n')
      .map((l, i) => ({ l, i }))
      .filter(({ l }) => l.trim())
      .map(({ l, i }) => {
        try {
          return { line: i + 1, record: JSON.parse(l) as Record<string, unknown> };
        } catch (err) {
          throw new Error(`line ${i + 1} is not valid JSON: ${(err as Error).message}`);
        }
      });
  }
  const first = trimmed.split('\n')[0];
  const records: Record<string, string>[] = parse(trimmed, {
    columns: (h: string[]) => h.map((c) => c.trim()),
    skip_empty_lines: true,
    delimiter: first.includes(';') ? ';' : ',',
    trim: true,
    bom: true,
  });
  return records.map((record, i) => ({ line: i + 2, record }));
}

function field(record: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const [k, v] of Object.entries(record))
    if (names.includes(k.toLowerCase()) && v !== null && v !== undefined && String(v).trim() !== '') return String(v).trim();
  return undefined;
}

/** The responses of one record (one per instrument it answers), or what is wrong with it. */
function recordToResponses(
  record: Record<string, unknown>,
  instruments: Map<string, Instrument>,
  idSystem: string,
): Array<Record<string, unknown>> | string {
  if (!record || typeof record !== 'object' || Array.isArray(record)) return 'not a record of fields';
  const nin = field(record, FIELDS.nin);
  if (!nin) return `no national_id (give the patient's identity number in a column named ${FIELDS.nin.join(' or ')})`;
  if (!ninSystem(nin)) return 'national_id is not a valid national identity number';
  const answered = field(record, FIELDS.answered);
  if (!answered || !(isRealDate(answered) || isDateTime(answered)))
    return `"${answered ?? ''}" is not when the patient answered: give ${FIELDS.answered[0]} as a date (2024-03-01) or a date-time with a time zone`;
  const recall = field(record, FIELDS.recall);
  if (recall !== undefined && recall !== 'current' && recall !== 'pre-injury') return `recall "${recall}" must be current or pre-injury`;
  const status = field(record, FIELDS.status) ?? 'completed';
  if (status !== 'completed' && status !== 'in-progress') return `status "${status}" must be completed or in-progress`;
  const named = field(record, FIELDS.instrument);
  const plain: Answers = {};
  const prefixed = new Map<string, Answers>();
  for (const [k, v] of Object.entries(record)) {
    if (RESERVED.has(k.toLowerCase() as never)) continue;
    const value =
      v === null || v === undefined || String(v).trim() === ''
        ? undefined
        : typeof v === 'number' || typeof v === 'boolean'
          ? v
          : String(v).trim();
    const dot = k.indexOf('.');
    if (dot > 0 && instruments.has(k.slice(0, dot))) {
      const id = k.slice(0, dot);
      if (!prefixed.has(id)) prefixed.set(id, {});
      prefixed.get(id)![k.slice(dot + 1)] = value;
    } else plain[k] = value;
  }
  const groups: Array<[Instrument, Answers]> = [];
  if (named) {
    const id = named.replace(/^urn:kvalreg:instrument:/, '').split('|')[0];
    const inst = instruments.get(id);
    if (!inst) return `instrument "${named}" is not one of ${[...instruments.keys()].join(', ')}`;
    groups.push([inst, plain]);
  } else {
    const stray = Object.keys(plain);
    if (stray.length)
      return `column(s) ${stray.slice(0, 5).join(', ')} name no instrument: give an instrument column, or name answer columns <instrument>.<linkId>`;
  }
  // An instrument whose every cell is empty was not answered in this record.
  for (const [id, answers] of prefixed)
    if (Object.values(answers).some((v) => v !== undefined)) groups.push([instruments.get(id)!, answers]);
  if (!groups.length) return 'no answers';
  const out: Array<Record<string, unknown>> = [];
  for (const [inst, answers] of groups) {
    const unknown = Object.keys(answers).filter((l) => !inst.items.has(l));
    if (unknown.length)
      return `${inst.id} has no item(s) ${unknown.slice(0, 5).join(', ')} (its linkIds: ${[...inst.items.keys()].slice(0, 12).join(', ')}…)`;
    const own = field(record, FIELDS.id);
    const key = own
      ? `${own}:${inst.id}`
      : crypto
          .createHash('sha256')
          .update([nin, inst.id, answered, recall ?? ''].join('|'))
          .digest('hex')
          .slice(0, 32);
    out.push(
      questionnaireResponse({
        instrument: inst,
        answers,
        nin,
        authored: answered,
        identifier: { system: idSystem, value: key },
        status: status as 'completed' | 'in-progress',
        ...(recall ? { recall: recall as 'current' | 'pre-injury' } : {}),
      }),
    );
  }
  return out;
}
