// The part of `quality.yaml` that says which episodes of the national patient register (NPR)
// belong to the registry and how they are linked to its cases (see npr.ts and
// docs/data-quality.md, "Coverage against NPR").
import { z } from 'zod';

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'a variable id (lower-case letters, digits and _)');
/** An ICD-10 or NCSP code pattern: a prefix ("S52", "S72.0", "NHJ*") or a range within one letter ("T00-T39"). */
const pattern = z
  .string()
  .regex(
    /^([A-Z][0-9A-Z.]*\*?|[A-Z]\d{2}-[A-Z]\d{2})$/i,
    'a code or prefix (e.g. S52, S72.0, NHJ*) or a range within one letter (e.g. T00-T39)',
  );

export const CONTACT_TYPES = ['inpatient', 'outpatient', 'day'] as const;

export const nprSelectionSchema = z
  .object({
    selection: z
      .object({
        /** Episodes with any of these ICD-10 codes belong; a code matching `exclude` does not count (e.g. another registry's). */
        icd10: z
          .object({ include: z.array(pattern).min(1), exclude: z.array(pattern).default([]) })
          .strict()
          .optional(),
        /** Episodes with any of these NCSP procedure codes belong. */
        ncsp: z
          .object({ include: z.array(pattern).min(1) })
          .strict()
          .optional(),
        /**
         * Episodes chosen by the registry's screening procedure (screening.yaml): those whose outcome is
         * one of these steps ("keep" = kept for assessment; a drop step's id = dropped there: patients
         * the registry covers by definition, e.g. those received by a trauma team).
         */
        screening: z
          .object({ outcomes: z.array(z.string().min(1)).min(1) })
          .strict()
          .optional(),
        /** Only these kinds of contact (default: all). */
        contactTypes: z.array(z.enum(CONTACT_TYPES)).optional(),
      })
      .strict()
      .refine((s) => Boolean(s.icd10 || s.ncsp || s.screening), { message: 'give icd10, ncsp or screening' }),
    /** Episodes of one person at one hospital starting at most this many days after the previous one's start are one event (follow-up contacts). */
    sameEventDays: z.number().int().min(0).default(0),
    linkage: z
      .object({
        /** The case's date compared with the episode (e.g. the injury date). */
        caseDate: id,
        /** The case's date may be this many days before the event's first admission (its transfer chain's start)… */
        daysBefore: z.number().int().min(0).default(3),
        /** …and this many days after the episode's discharge. */
        daysAfter: z.number().int().min(0).default(3),
      })
      .strict(),
    /** An episode at another hospital starting at most this many days after a discharge continues a transfer chain. */
    transferDays: z.number().int().min(0).default(1),
  })
  .strict();
export type NprSelectionDef = z.infer<typeof nprSelectionSchema>;
