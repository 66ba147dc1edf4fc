// What a registry declares about its data quality, in its folder:
// - `quality.yaml` (definition, part of the registry's version): which date places a case in a
//   year, the event date and deadlines for timeliness, the case-mix (adjustment) variables shown
//   first beside the indicators' own, and which episodes of the national patient register (NPR)
//   belong to the registry (npr.ts);
// - `quality-thresholds.yaml` (policy, not definition: load.ts leaves it out of the version's
//   hash): what counts as good and acceptable for each measure. It is read when a measure is
//   judged, so an edited threshold shows on the next request without recomputing anything.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { DefinitionError, type Registry } from '../registry/load.ts';
import { nprSelectionSchema } from './npr-schema.ts';

const id = z.string().regex(/^[a-z][a-z0-9_]*$/, 'a variable id (lower-case letters, digits and _)');

export const qualitySchema = z
  .object({
    /** The date variable that places a case in a year (as the indicators' periodDate). */
    periodDate: id,
    timeliness: z
      .object({
        /** When the event happened (e.g. the injury date); days are counted from it. */
        eventDate: id,
        /** The registry's deadline for a case to be registered, in days after the event. */
        registrationDays: z.number().int().min(0),
        /** …and for every form of it to be finalised. */
        finalisationDays: z.number().int().min(0),
      })
      .strict()
      .optional(),
    /** Case-mix (adjustment) variables: their completeness is shown first, beside the indicators' own variables. */
    adjustment: z.array(id).default([]),
    /** Which episodes of the national patient register belong to the registry, and how they are linked (coverage). */
    npr: nprSelectionSchema.optional(),
  })
  .strict();
export type QualityDef = z.infer<typeof qualitySchema>;

const share = z.number().min(0).max(1);
/** Higher is better: a rate at or above `good` is good, at or above `acceptable` acceptable, else poor. */
const band = z
  .object({ good: share, acceptable: share })
  .strict()
  .refine((b) => b.acceptable <= b.good, { message: 'acceptable must not be above good' });
export type Band = z.infer<typeof band>;

export const thresholdsSchema = z
  .object({
    completeness: band.default({ good: 0.95, acceptable: 0.85 }),
    validity: band.default({ good: 0.99, acceptable: 0.95 }),
    consistency: band.default({ good: 0.99, acceptable: 0.95 }),
    timeliness: band.default({ good: 0.9, acceptable: 0.75 }),
    unitsReporting: band.default({ good: 1, acceptable: 0.8 }),
    /** |modified z-score| above this marks a unit's rate as an outlier (Iglewicz and Hoaglin: 3.5). */
    outlierScore: z.number().positive().default(3.5),
    /** Units with fewer cases than this are not judged for outliers (their rates are too unstable). */
    outlierMinimumCases: z.number().int().min(1).default(10),
    /** Coverage against NPR: under `low` a result is marked "Lav dekningsgrad" (national publishing: 60 %); `good` is the national goal (80 %). */
    coverage: z
      .object({ low: share.default(0.6), good: share.default(0.8) })
      .strict()
      .default({ low: 0.6, good: 0.8 }),
  })
  .strict();
export type Thresholds = z.infer<typeof thresholdsSchema>;

export const QUALITY_FILE = 'quality.yaml';
export const THRESHOLDS_FILE = 'quality-thresholds.yaml';

function parseFile<T>(file: string, schema: z.ZodType<T>): T {
  const rel = path.relative(process.cwd(), file);
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new DefinitionError([`${rel}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success)
    throw new DefinitionError(parsed.error.issues.map((i) => `${rel}: ${i.path.map(String).join('.') || '(top)'}: ${i.message}`));
  return parsed.data;
}

/** The registry's quality declaration, checked against its codebook; null when it has none. */
export function loadQualityDef(registry: Registry, columnTypes: Map<string, string>): QualityDef | null {
  const file = path.join(registry.dir, QUALITY_FILE);
  if (!fs.existsSync(file)) return null;
  const def = parseFile(file, qualitySchema);
  const rel = path.relative(process.cwd(), file);
  const problems: string[] = [];
  const isDate = (v: string) => columnTypes.get(v) === 'date' || columnTypes.get(v) === 'datetime';
  if (!isDate(def.periodDate)) problems.push(`${rel}: periodDate: "${def.periodDate}" is not a date variable of the analytics table`);
  if (def.timeliness && !isDate(def.timeliness.eventDate))
    problems.push(`${rel}: timeliness.eventDate: "${def.timeliness.eventDate}" is not a date variable of the analytics table`);
  for (const v of def.adjustment)
    if (!columnTypes.has(v)) problems.push(`${rel}: adjustment: unknown variable "${v}" (a column of the analytics table)`);
  if (def.npr) {
    if (!isDate(def.npr.linkage.caseDate))
      problems.push(`${rel}: npr.linkage.caseDate: "${def.npr.linkage.caseDate}" is not a date variable of the analytics table`);
    if (def.npr.selection.screening && !registry.screening)
      problems.push(`${rel}: npr.selection.screening: the registry declares no screening.yaml`);
    if (def.npr.selection.screening && registry.screening) {
      const steps = new Set(['keep', 'search', ...registry.screening.steps.map((s) => s.id)]);
      for (const s of def.npr.selection.screening.outcomes)
        if (!steps.has(s))
          problems.push(`${rel}: npr.selection.screening.outcomes: "${s}" is not a step of screening.yaml (${[...steps].join(', ')})`);
    }
  }
  if (problems.length) throw new DefinitionError(problems);
  return def;
}

/**
 * The thresholds as the file says now (defaults where it says nothing). Read on every call, cached
 * by the file's modification time: an edit applies at once, and nothing is recomputed.
 */
export class ThresholdFiles {
  private readonly cache = new Map<string, { mtimeMs: number; value: Thresholds }>();
  read(registry: Pick<Registry, 'dir'>): Thresholds {
    const file = path.join(registry.dir, THRESHOLDS_FILE);
    let mtimeMs = -1;
    try {
      mtimeMs = fs.statSync(file).mtimeMs;
    } catch {
      /* no file: defaults */
    }
    const hit = this.cache.get(file);
    if (hit && hit.mtimeMs === mtimeMs) return hit.value;
    const value = mtimeMs < 0 ? thresholdsSchema.parse({}) : parseFile(file, thresholdsSchema);
    this.cache.set(file, { mtimeMs, value });
    return value;
  }
}
