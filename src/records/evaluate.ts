// Evaluates a case against its codebook: derived variables, required values that are missing,
// and validation-rule findings. Pure: the same function serves capture, completion and the worklist.
import { holds, type Values } from '../registry/expr.ts';
import type { Registry } from '../registry/load.ts';
import { osloDate } from '../time/oslo.ts';

export interface FormState {
  form: string;
  instance: string;
  data: Record<string, unknown>;
}
export interface Finding {
  rule: string;
  severity: 'error' | 'warning';
  variables: string[];
  message: { nb: string; en: string };
}
export interface Evaluation {
  derived: Record<string, unknown>;
  forms: Map<string, { missing: string[]; findings: Finding[] }>;
}

export interface PersonValues {
  birth_date: string | null;
  sex: string | null;
  deceased_date: string | null;
}

/** One PROM item of the case (schedule time point and instrument), with the scores of its answer: what `prom` derived variables read. */
export interface PromResult {
  schedule: string;
  timepoint: string;
  instrument: string;
  status: string;
  scores: Record<string, { value: unknown; direction?: string }> | null;
  answeredAt: string | null;
}

export function formKey(form: string, instance: string): string {
  return `${form}#${instance}`;
}

/**
 * The values visible to expressions: person, every non-repeating form, derived variables. PROM
 * results are given where they are read (the analytics tables); elsewhere `prom` variables are unknown.
 */
export function caseValues(registry: Registry, person: PersonValues, forms: FormState[], prom?: PromResult[]): Values {
  const values: Values = { ...person };
  for (const f of forms) {
    if (!isRepeating(registry, f.form)) Object.assign(values, f.data);
  }
  for (const d of registry.derived) {
    if (d.count) {
      // A repeating instance is judged on the case's values with its own on top.
      const where = d.count.where;
      values[d.def.id] = forms.filter((f) => f.form === d.count!.form && (!where || holds(where({ ...values, ...f.data })))).length;
    } else if (d.collect) {
      // The instances' values as one sorted, comma-separated text: the same whatever order they arrived in.
      const { form, variable, where } = d.collect;
      const items = forms
        .filter((f) => f.form === form && (!where || holds(where({ ...values, ...f.data }))))
        .map((f) => f.data[variable])
        .filter((x) => x !== null && x !== undefined && x !== '')
        .map(String)
        .sort();
      values[d.def.id] = items.length ? items.join(',') : null;
    } else if (d.prom) values[d.def.id] = prom ? promValue(d.prom, prom) : null;
    else values[d.def.id] = d.fn(values);
  }
  return values;
}

export function isRepeating(registry: Registry, form: string): boolean {
  return registry.forms.find((f) => f.id === form)?.repeating ?? false;
}

/**
 * Why a case waits: its person is known only by a kind of identity number the registry does not
 * accept (registry.yaml `requires.identity`). Kept as `registry_case.invalid_reason` (the case is
 * out of the statistics) and as a finding on the case's first form (it is on the worklist, and
 * cannot be finalised), until the identity is resolved.
 */
export const IDENTITY_REQUIRED = 'identity-required';

const KIND_WORDS: Record<string, { nb: string; en: string }> = {
  fnr: { nb: 'fødselsnummer', en: 'a fødselsnummer' },
  dnr: { nb: 'D-nummer', en: 'a D-number' },
  fhn: { nb: 'felles hjelpenummer (FH-nummer)', en: 'a felles hjelpenummer (FH-number)' },
  hnr: { nb: 'lokalt hjelpenummer (H-nummer)', en: 'a local H-number' },
  auxiliary: { nb: 'hjelpenummer fra registeret', en: 'an auxiliary number from the registry' },
};

/** True when the registry requires another kind of identity number than the person's. */
export function waitsForIdentity(registry: Registry, identityKind: string | null | undefined): boolean {
  const required = registry.meta.requires?.identity;
  if (!required || !identityKind) return false;
  return !(required as string[]).includes(identityKind.replace(/^synthetic-/, ''));
}

/** The finding that says so, in words for the registrar. */
export function identityFinding(registry: Registry, identityKind: string): Finding {
  const kind = KIND_WORDS[identityKind.replace(/^synthetic-/, '')] ?? { nb: identityKind, en: identityKind };
  const list = (lang: 'nb' | 'en') =>
    (registry.meta.requires!.identity as string[]).map((k) => KIND_WORDS[k]?.[lang] ?? k).join(lang === 'nb' ? ' eller ' : ' or ');
  return {
    rule: IDENTITY_REQUIRED,
    severity: 'error',
    variables: [],
    message: {
      nb: `Venter på identitet: pasienten er bare kjent med ${kind.nb}, og registeret krever ${list('nb')}. Saken teller ikke med før identiteten er avklart — når pasientsystemet sender det ekte nummeret, eller en administrator slår personene sammen.`,
      en: `Waiting for identity: the patient is known only by ${kind.en}, and the registry requires ${list('en')}. The case does not count until the identity is resolved — when the patient system sends the real number, or an administrator merges the persons.`,
    },
  };
}

export function evaluateCase(registry: Registry, person: PersonValues, forms: FormState[], identityKind?: string | null): Evaluation {
  const base = caseValues(registry, person, forms);
  const derived = Object.fromEntries(registry.derived.map((d) => [d.def.id, base[d.def.id] ?? null]));
  const result = new Map<string, { missing: string[]; findings: Finding[] }>();
  for (const f of forms) {
    const def = registry.forms.find((x) => x.id === f.form);
    if (!def) continue;
    // A repeating form instance sees the case's values with its own on top.
    const values = def.repeating ? { ...base, ...f.data } : base;
    const missing = def.variables
      .filter((v) => {
        const req = registry.requiredWhen.get(v.id);
        if (!req) return false;
        if (req !== true && !holds(req(values))) return false;
        const x = f.data[v.id];
        return x === undefined || x === null || x === '';
      })
      .map((v) => v.id);
    const own = new Set(def.variables.map((v) => v.id));
    const findings: Finding[] = [];
    for (const rule of registry.rules) {
      if (!rule.def.variables.some((v) => own.has(v))) continue;
      if (rule.when && !holds(rule.when(values))) continue;
      // An assertion over unknown values is not a violation: missing values are reported as missing.
      if (rule.assert(values) === false) {
        findings.push({ rule: rule.def.id, severity: rule.def.severity, variables: rule.def.variables, message: rule.def.message });
      }
    }
    result.set(formKey(f.form, f.instance), { missing, findings });
  }
  // The identity requirement is the case's, shown on its first (non-repeating) form.
  if (waitsForIdentity(registry, identityKind)) {
    const first = registry.forms.find((def) => !def.repeating && forms.some((f) => f.form === def.id));
    if (first) result.get(formKey(first.id, ''))?.findings.push(identityFinding(registry, identityKind!));
  }
  return { derived, forms: result };
}

/** A `prom` derived variable: of the instruments it lists, the first the case was asked at the time point (answered, for a score). */
function promValue(def: NonNullable<Registry['derived'][number]['prom']>, results: PromResult[]): unknown {
  const at = results.filter((r) => r.timepoint === def.timepoint && (!def.schedule || r.schedule === def.schedule));
  const asked = Object.keys(def.instruments)
    .map((i) => at.find((r) => r.instrument === i))
    .filter((r): r is PromResult => r !== undefined);
  if (def.value === 'status') return asked[0]?.status ?? null;
  if (def.value === 'instrument') return asked[0]?.instrument ?? null;
  const answered = asked.find((r) => r.status === 'answered' && r.scores);
  if (!answered) return null;
  const score = answered.scores![def.instruments[answered.instrument]];
  if (def.value === 'direction') return score?.direction ?? null;
  if (def.value === 'answered') return answered.answeredAt ? osloDate(answered.answeredAt) : null;
  return score?.value ?? null;
}
