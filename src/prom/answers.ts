// Answers in the shapes they arrive in, as one flat map by linkId: a FHIR QuestionnaireResponse
// (from the patient's form or another PROM system) or flat key/value pairs (ePROM-style exports,
// the CLI). Scoring, triage and storage only ever see the flat map.
import type { Answers } from './scoring.ts';
import { KvalregError } from '../errors.ts';

export class AnswerFormatError extends KvalregError {
  constructor(message: string) {
    super('invalid', message);
  }
}

/** The answers of a QuestionnaireResponse (nested groups and answers with sub-items included). */
export function answersFromResponse(qr: Record<string, any>): Answers {
  if (qr?.resourceType !== 'QuestionnaireResponse') throw new AnswerFormatError('expected a FHIR QuestionnaireResponse');
  const out: Answers = {};
  const walk = (items: any[] | undefined, at: string) => {
    if (items !== undefined && !Array.isArray(items)) throw new AnswerFormatError(`${at}: item must be a list`);
    for (const [i, item] of (items ?? []).entries()) {
      const here = `${at}.item[${i}]`;
      if (typeof item?.linkId !== 'string' || !item.linkId) throw new AnswerFormatError(`${here}: every item needs a linkId`);
      const answers = item.answer ?? [];
      if (!Array.isArray(answers)) throw new AnswerFormatError(`${here}.answer: must be a list`);
      if (answers.length > 1) throw new AnswerFormatError(`${here}: ${item.linkId} has ${answers.length} answers; every item takes one`);
      const a = answers[0];
      if (a) {
        const v = a.valueCoding?.code ?? a.valueInteger ?? a.valueDecimal ?? a.valueBoolean ?? a.valueString ?? a.valueDate;
        if (v === undefined)
          throw new AnswerFormatError(`${here}.answer[0]: give valueCoding, valueInteger, valueDecimal, valueBoolean or valueString`);
        if (item.linkId in out) throw new AnswerFormatError(`${here}: ${item.linkId} is answered twice`);
        out[item.linkId] = v;
        walk(a.item, `${here}.answer[0]`);
      }
      walk(item.item, here);
    }
  };
  walk(qr.item, 'QuestionnaireResponse');
  return out;
}

/** A flat object of linkId → value, or a QuestionnaireResponse. */
export function answersFromJson(json: unknown): Answers {
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const o = json as Record<string, unknown>;
    if (o.resourceType === 'QuestionnaireResponse') return answersFromResponse(o);
    const out: Answers = {};
    for (const [k, v] of Object.entries(o)) {
      if (v !== null && !['string', 'number', 'boolean'].includes(typeof v))
        throw new AnswerFormatError(`${k}: give a code, a number or true/false, not ${JSON.stringify(v)}`);
      out[k] = v as Answers[string];
    }
    return out;
  }
  throw new AnswerFormatError('answers must be a JSON object of linkId → answer, or a FHIR QuestionnaireResponse');
}

/** The QuestionnaireResponse items for a flat map, in the Questionnaire's order (for storage and FHIR output). */
export function responseItems(questionnaire: Record<string, any>, answers: Answers): any[] {
  const build = (items: any[] | undefined): any[] =>
    (items ?? []).flatMap((item): any[] => {
      if (item.type === 'group') {
        const sub = build(item.item);
        return sub.length ? [{ linkId: item.linkId, item: sub }] : [];
      }
      const v = answers[item.linkId];
      if (v === undefined || v === null || v === '') return [];
      const opt = (item.answerOption ?? []).find((o: any) => o.valueCoding && o.valueCoding.code === String(v));
      const value = opt
        ? { valueCoding: opt.valueCoding }
        : item.type === 'boolean'
          ? { valueBoolean: v === true || v === 'true' }
          : item.type === 'integer'
            ? { valueInteger: Number(v) }
            : item.type === 'decimal'
              ? { valueDecimal: Number(v) }
              : { valueString: String(v) };
      return [{ linkId: item.linkId, answer: [value] }];
    });
  return build(questionnaire.item);
}
