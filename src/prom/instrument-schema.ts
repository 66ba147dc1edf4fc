// The declaration format of a PROM instrument (`instruments/<id>/instrument.yaml` at the repository
// root): the FHIR Questionnaire it asks, and how its answers are scored. Instruments are shared by
// every registry (a registry's schedule names them), so nothing about a particular instrument is
// written in `src/`: subscales, item lists, missing-item rules, look-up tables, rounding and
// direction are all declared, each with the source that says so.
import { z } from 'zod';
import { text } from '../registry/schema.ts';

const id = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'use lower-case letters, digits, - and _ (starting with a letter)');
const linkId = z.string().min(1);

/** Where a rule or a number comes from: a scoring manual, a paper, a table. */
export const sourceSchema = z
  .object({
    id,
    citation: z.string().min(1),
    url: z.string().optional(),
  })
  .strict();

/**
 * How one score is computed from item values (an item's value is its answer option's itemWeight,
 * or the number answered):
 * - `sum` / `mean`: over the items answered; with fewer than `minAnswered`, no score. When items
 *   may be missing, `sum` is prorated (the mean of the answered items times the number of items),
 *   the "person-specific estimate" several manuals prescribe.
 * - `item`: one item's value as it is (a VAS).
 * - `profile`: the items' values written one after another (a health-state profile such as "21341").
 * - `value-set`: a look-up: 1 + constant + the decrement of each item's level, from a declared value set.
 * - `scores-sum` / `scores-mean`: other scores of the instrument combined; every one of them must be known.
 * `rescale` maps the aggregate linearly from one range to another (e.g. a mean 1–5 to 0–100, or 0–4
 * to 100–0), and `decimals` rounds the result (half away from zero).
 */
export const scoreSchema = z
  .object({
    id,
    label: text,
    method: z.enum(['sum', 'mean', 'item', 'profile', 'value-set', 'scores-sum', 'scores-mean']),
    items: z.array(linkId).default([]),
    /** For scores-sum / scores-mean: the scores combined. */
    scores: z.array(id).default([]),
    /** Fewest items answered for a score (default: every item). */
    minAnswered: z.number().int().min(1).optional(),
    rescale: z
      .object({ from: z.tuple([z.number(), z.number()]), to: z.tuple([z.number(), z.number()]) })
      .strict()
      .optional(),
    decimals: z.number().int().min(0).max(6).optional(),
    /** The score's possible range after rescaling (checked on load against the items' weights). */
    range: z.tuple([z.number(), z.number()]).optional(),
    direction: z.enum(['higher-is-better', 'higher-is-worse', 'none']).default('none'),
    /** Optional: computed only when this item was answered with this value (e.g. a module the patient says applies). */
    onlyWhen: z
      .object({ item: linkId, equals: z.union([z.string(), z.number(), z.boolean()]) })
      .strict()
      .optional(),
    /** The source of this rule (an id from `sources`). */
    source: id,
    /** false: the rule could not be checked against its source; `note` says what is uncertain. */
    verified: z.boolean().default(true),
    note: z.string().optional(),
  })
  .strict();
export type ScoreDef = z.output<typeof scoreSchema>;

/** An additive value set: index = start + constant (unless every level is 1) + Σ decrement[item][level − 1]. */
export const valueSetSchema = z
  .object({
    id,
    title: text,
    /** unverified: the coefficients could not be checked against a stored public source, so none are given. */
    status: z.enum(['verified', 'unverified']),
    source: id,
    start: z.number().default(1),
    /** Subtracted (as declared, usually negative) for any state other than the best. */
    constant: z.number().default(0),
    /** Per item (linkId): the decrement for levels 1…n (level 1 is usually 0). */
    decrements: z.record(linkId, z.array(z.number()).min(2)).optional(),
    note: z.string().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.status === 'verified' && !v.decrements)
      ctx.addIssue({ code: 'custom', path: ['decrements'], message: 'a verified value set needs its decrements' });
    if (v.status === 'unverified' && v.decrements)
      ctx.addIssue({
        code: 'custom',
        path: ['decrements'],
        message: 'an unverified value set gives no coefficients (they could not be checked); leave decrements out',
      });
  });
export type ValueSetDef = z.output<typeof valueSetSchema>;

export const instrumentSchema = z
  .object({
    id,
    version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'a version like 1.0'),
    title: text,
    description: text,
    /** The FHIR R4 Questionnaire file in the instrument's folder. */
    questionnaire: z.string().default('questionnaire.json'),
    licence: z
      .object({
        holder: z.string().min(1),
        /** true: the item texts may not be shipped; the registry supplies them (see docs/prom.md) and the folder has placeholders. */
        licensedTexts: z.boolean(),
        note: z.string().optional(),
      })
      .strict(),
    sources: z.array(sourceSchema).min(1),
    scores: z.array(scoreSchema).default([]),
    valueSets: z.array(valueSetSchema).default([]),
    /** The value set `value-set` scores use. */
    defaultValueSet: id.optional(),
    /** Used while the default value set has no verified coefficients; results say so. */
    fallbackValueSet: id.optional(),
  })
  .strict();
export type InstrumentDef = z.output<typeof instrumentSchema>;
