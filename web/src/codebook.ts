// The registry's codebook as the pages use it: forms and variables to generate forms from, code
// lists (flat, or hierarchical with a picker), the unit variable (a unit picker), and the values a
// case header shows.
import { useApi, type Text } from './data.tsx';
import { FRESH } from './query.ts';

export interface VariableView {
  id: string;
  type: string;
  label: Text;
  description: Text;
  codelist: string | null;
  unit: string | null;
  range: { min?: number; max?: number } | null;
  required: boolean | 'conditional';
}
export interface FormView {
  id: string;
  title: Text;
  description: Text | null;
  repeating: boolean;
  variables: VariableView[];
}
export interface CodeListView {
  id: string;
  title: Text;
  hierarchical: boolean;
  codes: Array<{ code: string; display: Text }>;
}
export interface Codebook {
  registry: string;
  title: Text;
  unitVariable: string;
  caseDate: string | null;
  header: string[];
  forms: FormView[];
  codelists: CodeListView[];
  derived: Array<{ id: string; type: string; label: Text; description: Text }>;
}

/** A variable's name (form, derived or the person's), never its id when the codebook is loaded. */
export function labelOf(codebook: Codebook | null, id: string, lang: 'nb' | 'en'): string {
  return variableOf(codebook, id)?.variable.label[lang] ?? codebook?.derived.find((d) => d.id === id)?.label[lang] ?? id;
}

export function useCodebook(registry: string | null) {
  return useApi<Codebook>(registry ? `/api/registries/${registry}/codebook` : null, { fresh: FRESH.reference });
}

export function variableOf(codebook: Codebook | null, id: string): { form: FormView; variable: VariableView } | null {
  for (const form of codebook?.forms ?? []) {
    const variable = form.variables.find((v) => v.id === id);
    if (variable) return { form, variable };
  }
  return null;
}

/** A value in words: a code by its list's display, the person's sex as a word, yes and no. */
export function displayOf(
  codebook: Codebook | null,
  id: string,
  value: unknown,
  lang: 'nb' | 'en',
  words: { yes: string; no: string; unknown: string; female: string; male: string },
): string {
  if (value === null || value === undefined || value === '') return words.unknown;
  if (value === true) return words.yes;
  if (value === false) return words.no;
  if (id === 'sex') return value === 'female' ? words.female : value === 'male' ? words.male : String(value);
  const list = variableOf(codebook, id)?.variable.codelist;
  const code = list ? codebook?.codelists.find((c) => c.id === list)?.codes.find((c) => c.code === String(value)) : undefined;
  return code ? code.display[lang] : String(value);
}
