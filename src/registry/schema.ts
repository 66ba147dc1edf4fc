// The declarative registry definition format. A registry is a folder of YAML files validated
// against these schemas; everything registry-specific lives there, nothing in `src/`.
import { z } from 'zod';

export const text = z.object({ nb: z.string().min(1), en: z.string().min(1) }).strict();
export type Text = z.infer<typeof text>;

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'use lower-case letters, digits and _ (starting with a letter)');
const expression = z.string().min(1);

export const variableTypes = ['text', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'code'] as const;
export type VariableType = (typeof variableTypes)[number];

export const privacyClasses = ['direct-identifier', 'indirect-identifier', 'sensitive', 'general'] as const;
export type PrivacyClass = (typeof privacyClasses)[number];
/** From least to most protected: a value computed from others is as protected as the most protected of them. */
export const PRIVACY_ORDER: PrivacyClass[] = ['general', 'sensitive', 'indirect-identifier', 'direct-identifier'];

export const codeListSchema = z
  .object({
    id,
    title: text,
    system: z.string().optional(),
    /** Codes listed inline, or loaded from a file of the registry folder (e.g. a classification). */
    codes: z
      .array(
        z
          .object({
            code: z.string().min(1),
            display: text,
            description: text.optional(),
            /** A declared "unknown" answer (e.g. "Ukjent"): the value is given, but says the fact is not known. Counted apart in completeness. */
            missing: z.boolean().optional(),
            /** Properties of the code, read by codeProperty() (as a hierarchical list gives bone and segment). */
            properties: z.record(z.string(), z.string()).optional(),
          })
          .strict(),
      )
      .optional(),
    file: z.string().optional(),
    format: z.enum(['list', 'hierarchical-groups']).default('list'),
    /** For a hierarchical list: the picker's level names and pictures (a YAML file of the registry folder; see registry/code-tree.ts). */
    picker: z.string().optional(),
  })
  .strict()
  .refine((c) => Boolean(c.codes) !== Boolean(c.file), { message: 'give either codes or file, not both' });
export type CodeListDef = z.infer<typeof codeListSchema>;

export const variableSchema = z
  .object({
    id,
    type: z.enum(variableTypes),
    label: text,
    description: text,
    codelist: id.optional(),
    unit: z.string().optional(), // UCUM
    range: z.object({ min: z.number().optional(), max: z.number().optional() }).strict().optional(),
    /** Plausible range: a value outside it is accepted but reported by data quality as implausible (the codebook's min_rimeleg/maks_rimeleg). */
    plausible: z.object({ min: z.number().optional(), max: z.number().optional(), comment: text.optional() }).strict().optional(),
    /** Decimals shown and exported (the codebook's desimalar), for decimal variables. */
    decimals: z.number().int().min(0).max(10).optional(),
    /** true, or an expression: required only when it holds (e.g. `treatment_intent == 'operative'`). */
    required: z.union([z.boolean(), expression]).default(false),
    privacy: z.enum(privacyClasses).default('general'),
    /** How the value is usually obtained: shown in the metadata and used to explain gaps. */
    source: z.string().optional(),
  })
  .strict();
export type VariableDef = z.infer<typeof variableSchema>;

export const formSchema = z
  .object({
    id,
    title: text,
    description: text.optional(),
    /** A repeating form has one instance per source resource (e.g. one per reoperation). */
    repeating: z.boolean().default(false),
    variables: z.array(variableSchema).min(1),
  })
  .strict();
export type FormDef = z.infer<typeof formSchema>;

export const derivedSchema = z
  .object({
    id,
    type: z.enum(variableTypes),
    label: text,
    description: text,
    /** Computed from the case's values (person, non-repeating forms, derived variables declared before). */
    expr: expression.optional(),
    /** Or: how many instances of a repeating form satisfy `where` (e.g. unplanned reoperations). */
    count: z.object({ form: id, where: expression.optional() }).strict().optional(),
    /**
     * Or: the values of one variable over the instances of a repeating form (those satisfying
     * `where`), as one comma-separated text, sorted, blanks left out; unknown when there are none
     * (e.g. the list of injury codes a registry function scores).
     */
    collect: z.object({ form: id, variable: id, where: expression.optional() }).strict().optional(),
    /**
     * Or: a PROM result of the case at one time point of the registry's schedule (prom.yaml): of the
     * instruments listed (instrument → score), the first the case was asked there. `value` is its
     * `score` (the default), the `instrument`, the score's `direction` (higher-is-better or
     * higher-is-worse), the item's `status` (pending, invited, answered, expired, cancelled) or the
     * date it was `answered`. Unknown where the case has none (and wherever PROM results are not
     * read: they reach the analytics table, not the forms).
     */
    prom: z
      .object({
        schedule: id.optional(),
        timepoint: id,
        instruments: z
          .record(z.string().regex(/^[a-z][a-z0-9_-]*$/), id)
          .refine((m) => Object.keys(m).length > 0, { message: 'name at least one instrument and its score' }),
        value: z.enum(['score', 'instrument', 'direction', 'status', 'answered']).default('score'),
      })
      .strict()
      .optional(),
    codelist: id.optional(),
    /** Declared privacy class; by default the strictest class among the variables it is computed from. */
    privacy: z.enum(privacyClasses).optional(),
  })
  .strict()
  .refine((d) => [d.expr, d.count, d.collect, d.prom].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of expr, count, collect or prom',
  });
export type DerivedDef = z.infer<typeof derivedSchema>;

export const ruleSchema = z
  .object({
    id: z.string().min(1),
    /** Only checked when this holds (default: always). */
    when: expression.optional(),
    /** Must hold; a rule whose operands are unknown is not violated. */
    assert: expression,
    variables: z.array(id).min(1),
    severity: z.enum(['error', 'warning']).default('error'),
    message: text,
  })
  .strict();
export type RuleDef = z.infer<typeof ruleSchema>;

const sourceSchema = z
  .object({
    resource: z.string().regex(/^[A-Z][A-Za-z]+$/, 'a FHIR resource type, e.g. Procedure'),
    /**
     * How a resource of this type belongs to a case:
     * - `anchor`: it is the anchor resource itself;
     * - `anchor-references`: the anchor refers to it through `path` (e.g. Condition.encounter);
     * - `references-anchor`: it refers to the anchor through `path` (e.g. Procedure.reasonReference);
     * - `references-anchor-encounter`: it refers to the anchor's encounter through `path`.
     */
    link: z.enum(['anchor', 'anchor-references', 'references-anchor', 'references-anchor-encounter']),
    path: z.string().optional(),
    /** FHIRPath filter on the resource: only matching resources contribute. */
    where: z.string().optional(),
    /** Variable id → FHIRPath expression evaluated on the resource. */
    values: z.record(z.string(), z.string()),
    /** Variable id → map from incoming code to code-list code (e.g. SNOMED CT → the registry's code). */
    codemap: z.record(z.string(), z.record(z.string(), z.string())).optional(),
    /** Variable id → a literal value set when such a resource is present (e.g. `operated: true`). */
    constants: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .strict()
  .refine((s) => s.link === 'anchor' || Boolean(s.path), { message: 'path is required unless link is anchor' });
export type SourceDef = z.infer<typeof sourceSchema>;

/**
 * Event identity (optional): when one real-world event of a person can give several cases (one per
 * receiving unit, or a second registration at the same unit), the cases carry an event key. The
 * key is a keyed hash of the person and the event's start date, so it is deterministic and cannot
 * be recomputed by anyone without the platform's hash key. See docs/registry-definitions.md.
 */
export const eventSchema = z
  .object({
    /** What the event's id is called on forms and in exports (e.g. "Trauma ID"). */
    label: text,
    /** A date (or date-time) variable: the event's start date. Cases without it have no event yet. */
    startDate: id,
    /** Optional: two cases on one start date whose values of this variable differ are different events. */
    distinctBy: id.optional(),
    /** Optional expression: cases for which it holds never start an event of their own; they join one (e.g. a transfer in). */
    joins: expression.optional(),
    /**
     * Optional variable holding the unit (RESH id) a joining case came from (a transfer's sending
     * hospital): the case joins the event of the person's case at that unit or under it, whatever start
     * date it records itself, when the two start dates are at most `joinsWithinDays` apart.
     */
    joinsFrom: id.optional(),
    /** How many days apart a joining case's start date and the referenced case's may be (default 7). */
    joinsWithinDays: z.number().int().min(0).max(366).optional(),
    /**
     * Optional date-time variable: two cases of one event at one unit whose values fall on the same
     * calendar day (Norwegian time) are one registration; every one but the first is marked invalid
     * (merged into the first), never deleted.
     */
    sameDay: id.optional(),
  })
  .strict();
export type EventDef = z.infer<typeof eventSchema>;

export const mappingSchema = z
  .object({
    anchor: z
      .object({
        resource: z.string(),
        where: z.string(),
      })
      .strict(),
    /** The variable holding the treating unit's RESH id (decides whose worklist the case is on). */
    unitVariable: id,
    /** Optional event identity across cases (see eventSchema). */
    event: eventSchema.optional(),
    sources: z.array(sourceSchema).min(1),
  })
  .strict();
export type MappingDef = z.infer<typeof mappingSchema>;

export const registrySchema = z
  .object({
    id,
    version: z.string().regex(/^\d+\.\d+(\.\d+)?$/, 'a version like 1.0 or 1.2.3'),
    title: text,
    short: z.string(),
    /** What one case is, in the plural, for text such as "Antall brudd der …" (default: registreringer/cases). */
    caseName: text.optional(),
    description: text,
    legalBasis: text.optional(),
    dataController: z.string().optional(),
    /** Counts below this are never shown outside the unit (default 5). */
    smallCountThreshold: z.number().int().min(1).default(5),
    /**
     * The date a case belongs to a year by (e.g. the date of injury): which years have data, what the
     * pages open on, and how key figures are counted. Default: when the case was registered.
     */
    caseDate: id.optional(),
    /**
     * What tells one case from another to a registrar, beside who the patient is: the variables (form
     * or derived) shown in the case header and on the worklist row, in this order (e.g. the date of
     * injury, the classification code with its words, scores).
     */
    header: z.array(id).default([]),
    /** How to reach the registry (shown to patients: how to withdraw a reservation, correct data, ask for the access log). */
    contact: z
      .object({ email: z.string().optional(), phone: z.string().optional(), address: z.string().optional(), web: z.string().optional() })
      .strict()
      .optional(),
    /**
     * What a case needs of its person to count. `identity`: the kinds of identity number the
     * registry requires (e.g. [fnr, dnr]); a case of a person known only by another kind (an
     * FH-number, a local H-number, an auxiliary number) waits on the worklist, out of the
     * statistics, until the identity is resolved (records/persons.ts). Test numbers count as the
     * kind they imitate.
     */
    requires: z
      .object({ identity: z.array(z.enum(['fnr', 'dnr', 'fhn', 'hnr', 'auxiliary'])).min(1) })
      .strict()
      .optional(),
    inclusion: z
      .object({
        /** The case belongs to this registry when this holds on its values. */
        include: expression,
        /** Cases that belong to another registry: counted as referred there. */
        refer: z.array(z.object({ when: expression, to: z.string(), name: text }).strict()).default([]),
      })
      .strict(),
  })
  .strict();
export type RegistryMeta = z.infer<typeof registrySchema>;

export const codebookSchema = z
  .object({
    codelists: z.array(codeListSchema).default([]),
    forms: z.array(formSchema).min(1),
    derived: z.array(derivedSchema).default([]),
    rules: z.array(ruleSchema).default([]),
    /** Optional map from a legacy classification version to the current one, applied on import. */
    codeVersionMaps: z.array(z.object({ codelist: id, file: z.string() }).strict()).default([]),
  })
  .strict();
export type CodebookDef = z.infer<typeof codebookSchema>;
