// Each form of the codebook as a FHIR R4 Questionnaire, and each code list as a CodeSystem and
// its ValueSet, so that other systems can build the forms and validate the codes.
import type { Registry } from '../registry/load.ts';
import type { VariableType } from '../registry/schema.ts';

const ITEM_TYPE: Record<VariableType, string> = {
  text: 'string',
  code: 'choice',
  integer: 'integer',
  decimal: 'decimal',
  boolean: 'boolean',
  date: 'date',
  datetime: 'dateTime',
};
const RESTRICTION = 'http://hl7.org/fhir/StructureDefinition/minValue';

export const codeSystemUrl = (base: string, registry: string, list: string) => `${base}/CodeSystem/${registry}-${list}`;
export const valueSetUrl = (base: string, registry: string, list: string) => `${base}/ValueSet/${registry}-${list}`;

export function questionnaire(base: string, registry: Registry, formId: string): Record<string, unknown> | null {
  const form = registry.forms.find((f) => f.id === formId);
  if (!form) return null;
  return {
    resourceType: 'Questionnaire',
    id: `${registry.id}-${form.id}`,
    url: `${base}/Questionnaire/${registry.id}-${form.id}`,
    version: registry.version,
    name: form.id,
    title: form.title.nb,
    status: 'active',
    publisher: registry.meta.title.nb,
    description: form.description?.nb ?? form.title.nb,
    ...(form.repeating ? { extension: [{ url: 'urn:kvalreg:fhir:StructureDefinition/form-repeating', valueBoolean: true }] } : {}),
    item: form.variables.map((v) => ({
      linkId: v.id,
      text: v.label.nb,
      type: ITEM_TYPE[v.type],
      required: v.required === true,
      ...(v.codelist ? { answerValueSet: valueSetUrl(base, registry.id, v.codelist) } : {}),
      ...(v.range?.min !== undefined
        ? {
            extension: [
              { url: RESTRICTION, [v.type === 'integer' ? 'valueInteger' : 'valueDecimal']: v.range.min },
              ...(v.range.max !== undefined
                ? [
                    {
                      url: 'http://hl7.org/fhir/StructureDefinition/maxValue',
                      [v.type === 'integer' ? 'valueInteger' : 'valueDecimal']: v.range.max,
                    },
                  ]
                : []),
            ],
          }
        : {}),
      ...(typeof v.required === 'string'
        ? {
            _required: {
              extension: [
                {
                  url: 'urn:kvalreg:fhir:StructureDefinition/required-when',
                  valueExpression: { language: 'text/x-kvalreg-expression', expression: v.required },
                },
              ],
            },
          }
        : {}),
      code: [{ system: `urn:kvalreg:variable:${registry.id}`, code: v.id, display: v.label.en }],
    })),
  };
}

export function codeSystem(base: string, registry: Registry, listId: string): Record<string, unknown> | null {
  const list = registry.codelists.get(listId);
  if (!list) return null;
  return {
    resourceType: 'CodeSystem',
    id: `${registry.id}-${list.id}`,
    url: list.system ?? codeSystemUrl(base, registry.id, list.id),
    version: registry.version,
    name: list.id,
    title: list.title.nb,
    status: 'active',
    content: 'complete',
    count: list.codes.size,
    caseSensitive: true,
    concept: [...list.codes].map(([code, d]) => ({
      code,
      display: d.nb,
      designation: [{ language: 'en', value: d.en }],
      ...(list.missing.has(code) ? { property: [{ code: 'unknown', valueBoolean: true }] } : {}),
    })),
    ...(list.missing.size ? { property: [{ code: 'unknown', description: 'A declared "unknown" answer', type: 'boolean' }] } : {}),
  };
}

export function valueSet(base: string, registry: Registry, listId: string): Record<string, unknown> | null {
  const list = registry.codelists.get(listId);
  if (!list) return null;
  return {
    resourceType: 'ValueSet',
    id: `${registry.id}-${list.id}`,
    url: valueSetUrl(base, registry.id, list.id),
    version: registry.version,
    name: list.id,
    title: list.title.nb,
    status: 'active',
    compose: { include: [{ system: list.system ?? codeSystemUrl(base, registry.id, list.id) }] },
  };
}
