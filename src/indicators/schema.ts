// The indicator declaration format (`indicators.yaml` in a registry folder). Predicates are
// registry expressions over the analytics table's columns, compiled to parameterised SQL.
import { z } from 'zod';
import { text } from '../registry/schema.ts';

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _, starting with a letter');
const expression = z.string().min(1);

/** "> 80%", ">= 0.9", "< 10 %": an operator and a proportion. */
export const threshold = z.string().transform((s, ctx) => {
  const m = /^\s*(>=|<=|>|<|≥|≤)\s*(\d+(?:[.,]\d+)?)\s*(%?)\s*$/.exec(s);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a threshold: write an operator and a share, e.g. "> 80%" or ">= 0.9"` });
    return z.NEVER;
  }
  const op = ({ '≥': '>=', '≤': '<=' } as Record<string, string>)[m[1]] ?? m[1];
  const n = Number(m[2].replace(',', '.'));
  const value = m[3] ? n / 100 : n;
  if (value < 0 || value > 1) {
    ctx.addIssue({ code: 'custom', message: `"${s}": a share is between 0 and 1 (or 0% and 100%)` });
    return z.NEVER;
  }
  return { operator: op as '>' | '>=' | '<' | '<=', value };
});
export type Threshold = z.output<typeof threshold>;

export const GRAINS = ['year', 'quarter', 'month', 'rolling-12-months'] as const;
export type Grain = (typeof GRAINS)[number];

export const TYPES = ['structure', 'process', 'outcome'] as const;

const part = z
  .object({
    label: text,
    denominator: expression,
    numerator: expression,
  })
  .strict();

export const indicatorSchema = z
  .object({
    id,
    /** The registry's own number or short name for it (e.g. "1", "11a"). */
    number: z.string().min(1),
    title: text,
    description: text,
    /** One or more of structure, process, outcome (the source often names two). */
    type: z.array(z.enum(TYPES)).min(1),
    /** Where the data come from (EHR, operation planner, population register …). */
    source: text,
    /** `pending`: declared as the registry has described it so far; not computed until completed. */
    status: z.enum(['active', 'pending']).default('active'),
    /**
     * What is counted: cases (e.g. fractures), distinct patients, or distinct events (registries
     * declaring `event` in mapping.yaml: one event with cases at several units counts once for
     * each unit and once above them; a case without an event counts as its own).
     */
    countBy: z.enum(['case', 'patient', 'event']).default('case'),
    /** The date variable that places a case in a period. */
    periodDate: id,
    /** Which cases the indicator is about at all (default: every case). */
    population: expression.optional(),
    /** Cases removed from the population (e.g. a follow-up not yet long enough). */
    exclusions: expression.optional(),
    denominator: expression.optional(),
    numerator: expression.optional(),
    /** A denominator made of several counts added together, each with its own numerator. */
    parts: z.array(part).min(2).optional(),
    /**
     * What each case in the numerator adds to it: a number per case (default 1). With it, the
     * numerator counts events of a case (e.g. its unplanned reoperations, a `count` variable over a
     * repeating form) rather than cases, and may exceed the denominator. Counting cases only.
     */
    numeratorCount: expression.optional(),
    /**
     * Stratifiers whose strata split the numerator count instead of the cases: stratifier → stratum →
     * what a case adds to that stratum's numerator (e.g. its unplanned reoperations for infection).
     * Every case of the denominator is in the denominator of every such stratum. Each is named in
     * `stratifiers` too; needs `numeratorCount`.
     */
    countStrata: z.record(id, z.record(z.string().min(1), expression)).optional(),
    /**
     * The source's own words for the definition, quoted as the source writes them (e.g. the annual
     * report's "Teller: …" and "Nevner: …"), one quotation per item, kept beside the declaration so
     * anyone can check one against the other.
     */
    sourceText: z.array(z.string().min(1)).min(1).optional(),
    /** Hand-written text for reports; without it, text is generated from the expressions and the codebook's labels. */
    text: z.object({ numerator: text, denominator: text }).strict().optional(),
    target: threshold.optional(),
    /** Achievement levels: high when `high` holds, moderate when `moderate` holds, otherwise low. */
    levels: z.object({ high: threshold, moderate: threshold.optional() }).strict().optional(),
    direction: z.enum(['higher-is-better', 'lower-is-better']),
    /** Results with a smaller denominator are marked too few to show (default, and at least: the registry's small-count threshold). */
    minimumDenominator: z.number().int().min(1).optional(),
    /**
     * Disclosure control (docs/architecture.md, "Disclosure control"): numerators under the registry's
     * small-count threshold are withheld with the result's share, unless the indicator declares them
     * shown, with the reason (e.g. a process measure whose numerator says nothing about a patient).
     */
    disclosure: z
      .object({
        numerator: z.enum(['suppress', 'show']),
        reason: z.string().min(1).optional(),
      })
      .strict()
      .refine((d) => d.numerator === 'suppress' || d.reason !== undefined, {
        message: 'showing numerators under the threshold needs a reason: disclosure.reason',
      })
      .optional(),
    stratifiers: z.array(id).default([]),
    grains: z.array(z.enum(GRAINS)).min(1).default(['year', 'quarter']),
    /** Sources of the definition and its target (guideline, annual report section). */
    references: z.array(z.string()).default([]),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.status === 'active') {
      const single = d.numerator !== undefined && d.denominator !== undefined;
      if (single === (d.parts !== undefined))
        ctx.addIssue({ code: 'custom', message: 'an active indicator needs numerator and denominator, or parts (not both)' });
    }
    if ((d.numerator === undefined) !== (d.denominator === undefined))
      ctx.addIssue({ code: 'custom', message: 'give both numerator and denominator' });
    if (d.numeratorCount !== undefined) {
      if (d.countBy !== 'case')
        ctx.addIssue({
          code: 'custom',
          path: ['numeratorCount'],
          message: `numeratorCount counts events per case: it needs countBy: case, not ${d.countBy}`,
        });
      if (d.parts !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['numeratorCount'],
          message: 'numeratorCount goes with numerator and denominator, not parts',
        });
    }
    for (const s of Object.keys(d.countStrata ?? {})) {
      if (d.numeratorCount === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['countStrata', s],
          message: 'countStrata split the numerator count: declare numeratorCount',
        });
      if (!d.stratifiers.includes(s)) ctx.addIssue({ code: 'custom', path: ['countStrata', s], message: `name "${s}" in stratifiers too` });
    }
    const better = d.direction === 'higher-is-better' ? ['>', '>='] : ['<', '<='];
    for (const [name, t] of [
      ['target', d.target],
      ['levels.high', d.levels?.high],
      ['levels.moderate', d.levels?.moderate],
    ] as const) {
      if (t && !better.includes(t.operator))
        ctx.addIssue({ code: 'custom', path: name.split('.'), message: `${d.direction} but ${name} uses "${t.operator}"` });
    }
  });
export type IndicatorDef = z.output<typeof indicatorSchema>;

/**
 * A registry-level statistic that is not a proportion: sums of per-case values over a population,
 * per unit and period, combined by a `value` expression over the sums and the count `n` (e.g.
 * observed minus model-expected survivors per 100 patients).
 */
export const statisticSchema = z
  .object({
    id,
    title: text,
    description: text,
    /** The date variable that places a case in a period. */
    periodDate: id,
    /** Which cases count (default: every case). A case counts only when every sum's value is known. */
    population: expression.optional(),
    /** Name → a numeric expression per case, summed over the population (a condition counts 1 when it holds). */
    sums: z.record(id, expression).refine((s) => Object.keys(s).length > 0 && !('n' in s), {
      message: 'declare at least one sum; "n" is the count and cannot be a sum',
    }),
    /** The statistic, from the sums and `n` (the number of cases counted). */
    value: expression,
    /**
     * Optional: the variance of the value, from the sums and `n`; results then carry a 95 % interval
     * (value ± 1.96 × √variance), and pages show it beside the value.
     */
    variance: expression.optional(),
    decimals: z.number().int().min(0).max(6).default(2),
    direction: z.enum(['higher-is-better', 'lower-is-better']),
    /** Results over fewer cases are withheld (default: the registry's small-count threshold). */
    minimumCount: z.number().int().min(1).optional(),
    grains: z.array(z.enum(GRAINS)).min(1).default(['year']),
    references: z.array(z.string()).default([]),
  })
  .strict();
export type StatisticDef = z.output<typeof statisticSchema>;

export const indicatorsFileSchema = z
  .object({ indicators: z.array(indicatorSchema), statistics: z.array(statisticSchema).default([]) })
  .strict();
