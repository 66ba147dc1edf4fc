// The platform's own FHIR extensions: one declaration each, from which both the URL the outputs
// use and the StructureDefinition served at that URL are made, so that every extension in what
// the platform emits resolves (GET <public URL>/fhir/StructureDefinition/<id>) to its definition.
// An output that used a name not declared here would throw: a test renders every output.
import type { ElementDefinition, StructureDefinition } from 'fhir/r4.js';

type Value = 'code' | 'integer' | 'decimal' | 'string' | 'Range';

interface ExtensionDecl {
  title: string;
  description: string;
  /** Where the extension may appear (FHIRPath of the element, FHIR R4 StructureDefinition.context). */
  context: string[];
  /** A simple extension's value type, or the parts of a complex one. */
  value: Value | { parts: Array<{ name: string; value: Value; description: string }> };
  /** The codes a code value takes, said in words (the platform's own, no code system). */
  codes?: string;
  /** May appear more than once on one element. */
  repeats?: boolean;
}

const THRESHOLD = {
  parts: [
    {
      name: 'comparator',
      value: 'code' as const,
      description: 'How a result is compared with the value: >, >=, < or <= (the result is on the left).',
    },
    { name: 'value', value: 'decimal' as const, description: 'The proportion compared with, from 0 to 1.' },
  ],
};

export const EXTENSIONS: Record<string, ExtensionDecl> = {
  'indicator-target': {
    title: 'Indicator target',
    description: 'The target the registry set for the indicator: a comparator and a proportion.',
    context: ['Measure'],
    value: THRESHOLD,
  },
  'indicator-level-high': {
    title: 'High achievement level',
    description: 'The threshold of the high (green) achievement level, as national publishing uses it.',
    context: ['Measure'],
    value: THRESHOLD,
  },
  'indicator-level-moderate': {
    title: 'Moderate achievement level',
    description: 'The threshold of the moderate (yellow) achievement level, as national publishing uses it.',
    context: ['Measure'],
    value: THRESHOLD,
  },
  'indicator-population': {
    title: 'Population expression',
    description:
      "One population of the indicator (initial-population, denominator, denominator-exclusion or numerator, as FHIR's measure-population codes) and its expression in the registry's expression language (docs/registry-definitions.md), over one case's variables.",
    context: ['Measure.group'],
    value: {
      parts: [
        {
          name: 'code',
          value: 'code',
          description:
            'The population: initial-population, denominator, denominator-exclusion or numerator (http://terminology.hl7.org/CodeSystem/measure-population).',
        },
        {
          name: 'expression',
          value: 'string',
          description: "The expression in the registry's expression language; a case is in the population when it is true.",
        },
      ],
    },
    repeats: true,
  },
  'indicator-minimum-denominator': {
    title: 'Minimum denominator',
    description: 'Results over fewer cases than this are not shown outside the unit.',
    context: ['Measure'],
    value: 'integer',
  },
  'indicator-count-by': {
    title: 'Counted by',
    description: 'What one count is: a case, a person or an event.',
    context: ['Measure'],
    value: 'code',
    codes: 'case, person, event',
  },
  'indicator-result-status': {
    title: 'Result status',
    description:
      'Why a result has no score: too few cases to show (disclosure control withholds the numerator, the denominator may stay), not computable (no cases), or a definition still to come.',
    context: ['MeasureReport.group', 'MeasureReport.group.stratifier.stratum'],
    value: 'code',
    codes: 'too-few, not-computable, definition-pending',
  },
  'indicator-dataset': {
    title: 'Dataset',
    description: 'The dataset the result is computed from: fresh (everything captured) or qa (finalised registrations only).',
    context: ['MeasureReport'],
    value: 'code',
    codes: 'fresh, qa',
  },
  'indicator-level': {
    title: 'Achievement level',
    description: 'The achievement level the result reaches.',
    context: ['MeasureReport'],
    value: 'code',
    codes: 'high, moderate, low',
  },
  'indicator-trend': {
    title: 'Trend',
    description: 'The change since the previous period.',
    context: ['MeasureReport'],
    value: 'code',
    codes: "up, down, unchanged (improving or not follows the indicator's direction)",
  },
  'indicator-interval': {
    title: 'Confidence interval',
    description: 'The 95 % confidence interval of the proportion.',
    context: ['MeasureReport'],
    value: 'Range',
  },
};

/** The URL of one of the platform's extensions under the FHIR base (`<KVALREG_PUBLIC_URL>/fhir`). */
export function extensionUrl(base: string, id: string): string {
  if (!EXTENSIONS[id]) throw new Error(`No extension "${id}" is declared in src/fhir/extensions.ts`);
  return `${base}/StructureDefinition/${id}`;
}

const pascal = (id: string) =>
  id
    .split('-')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
const valueType = (v: Value) => [{ code: v }];

/** The StructureDefinition of one extension (FHIR R4, a constraint on Extension). */
export function extensionDefinition(base: string, id: string, version: string): StructureDefinition {
  const d = EXTENSIONS[id];
  const url = extensionUrl(base, id);
  const elements: ElementDefinition[] = [
    {
      id: 'Extension',
      path: 'Extension',
      short: d.title,
      definition: d.description + (d.codes ? ` Codes: ${d.codes}.` : ''),
      min: 0,
      max: d.repeats ? '*' : '1',
    },
  ];
  if (typeof d.value === 'string') {
    elements.push(
      { id: 'Extension.extension', path: 'Extension.extension', max: '0' },
      { id: 'Extension.url', path: 'Extension.url', fixedUri: url },
      { id: 'Extension.value[x]', path: 'Extension.value[x]', min: 1, type: valueType(d.value) },
    );
  } else {
    elements.push({
      id: 'Extension.extension',
      path: 'Extension.extension',
      min: d.value.parts.length,
      slicing: { discriminator: [{ type: 'value', path: 'url' }], rules: 'closed' },
    });
    for (const p of d.value.parts) {
      elements.push(
        {
          id: `Extension.extension:${p.name}`,
          path: 'Extension.extension',
          sliceName: p.name,
          short: p.name,
          definition: p.description,
          min: 1,
          max: '1',
        },
        { id: `Extension.extension:${p.name}.url`, path: 'Extension.extension.url', fixedUri: p.name },
        { id: `Extension.extension:${p.name}.value[x]`, path: 'Extension.extension.value[x]', min: 1, type: valueType(p.value) },
      );
    }
    elements.push(
      { id: 'Extension.url', path: 'Extension.url', fixedUri: url },
      { id: 'Extension.value[x]', path: 'Extension.value[x]', max: '0' },
    );
  }
  return {
    resourceType: 'StructureDefinition',
    id,
    url,
    version,
    name: pascal(id),
    title: d.title,
    status: 'active',
    publisher: 'kvalreg',
    description: d.description,
    fhirVersion: '4.0.1',
    kind: 'complex-type',
    abstract: false,
    context: d.context.map((expression) => ({ type: 'element', expression })),
    type: 'Extension',
    baseDefinition: 'http://hl7.org/fhir/StructureDefinition/Extension',
    derivation: 'constraint',
    differential: { element: elements },
  };
}
