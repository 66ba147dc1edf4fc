// The declaration of a registry's screening worklist (`screening.yaml` in its folder): which
// hospital admissions, by their diagnosis codes, may be cases the registry has not received, found
// by a sequence of declared steps, each dropping admissions for a stated reason; what is left is
// the list for manual assessment. Code patterns: a prefix written with or without the dot
// ("S72", "S72.0", "S720"), with an optional trailing `*` ("S00*": any further digits), or a range
// of three-character categories ("T00-T39").
import { z } from 'zod';
import { text } from '../registry/schema.ts';

const id = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'lower-case letters, digits, - and _ (starting with a letter)');
const pattern = z
  .string()
  .regex(
    /^([A-Z]\d{2}-[A-Z]\d{2}|[A-Z](\d{1,2}(\.?\d{0,2})?)?\*?)$/,
    'a code pattern: a prefix like S72, S72.0 or S00*, or a range of categories like T00-T39',
  );

const stepBase = { id, title: text, reason: text };

export const stepSchema = z.discriminatedUnion('kind', [
  /** Drops admissions whose flag column is true (e.g. already received by the trauma team). */
  z.object({ ...stepBase, kind: z.literal('drop-flagged'), column: id }).strict(),
  /** Drops admissions seen only at departments of the listed kinds, or only as outpatients. */
  z
    .object({ ...stepBase, kind: z.literal('drop-department'), departmentKinds: z.array(id).min(1), outpatient: z.boolean().default(true) })
    .strict(),
  /** Drops admissions none of whose codes matches `codes` (e.g. only poisoning/complication T-codes). */
  z.object({ ...stepBase, kind: z.literal('drop-unless-any'), codes: z.array(pattern).min(1) }).strict(),
  /** Drops admissions with exactly one code among `among`, when that code is in `codes`. */
  z.object({ ...stepBase, kind: z.literal('drop-single-listed'), among: z.array(pattern).min(1), codes: z.array(pattern).min(1) }).strict(),
]);
export type StepDef = z.infer<typeof stepSchema>;

export const screeningSchema = z
  .object({
    title: text,
    description: text,
    /** Where the procedure is defined (document and section). */
    source: z.string().min(1),
    /** The admissions screened: those with at least one code matching these. */
    search: z.object({ codes: z.array(pattern).min(1), reason: text }).strict(),
    /** The values the file's department_kind column may take. */
    departmentKinds: z.array(z.object({ code: id, display: text }).strict()).min(1),
    /** Boolean columns of the file beyond the standard ones (e.g. trauma_team), used by drop-flagged steps. */
    flagColumns: z.array(id).default([]),
    steps: z.array(stepSchema).min(1),
    /** What the admissions left after every step are for. */
    keep: z.object({ title: text, reason: text }).strict(),
    /** Marks on kept admissions with matching codes (e.g. possibly penetrating injuries to check). */
    flags: z.array(z.object({ id, label: text, codes: z.array(pattern).min(1) }).strict()).default([]),
  })
  .strict();
export type ScreeningDef = z.infer<typeof screeningSchema>;
