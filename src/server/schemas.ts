// Zod pieces the routes' schemas share (server/openapi.ts says how they are used). Messages start
// with the field's name, so the answer to a bad input reads "year must be a year like 2024."
import { z } from 'zod';

/** A route that takes no query parameters. Unknown ones are ignored, as before. */
export const noQuery = z.object({});

/** `/api/registries/:id/…`: the registry's id (an unknown one is a 404, decided by the route). */
export const registryParams = z.object({ id: z.string().min(1).describe("The registry's id, as GET /api/registries lists them.") });

/** A database id in the path (`what`: case, message, …): a positive whole number, given to the handler as a number. */
export function positiveId(what: string) {
  return z
    .string()
    .regex(/^[1-9][0-9]{0,14}$/, { error: (iss) => `"${String(iss.input)}" is not a ${what} id: ${what} ids are positive whole numbers.` })
    .transform(Number)
    .describe(`A ${what} id (a positive whole number).`);
}

/** No body is read: none need be sent (an empty JSON object is accepted too). */
export const noBody = z.object({}).nullish();

/** A paging parameter (`limit`, `offset`): a whole number of 0 or more, as a number. */
export function pageParam(name: string) {
  return z
    .string()
    .regex(/^[0-9]{1,9}$/, `${name} must be a whole number of 0 or more.`)
    .transform(Number)
    .optional();
}

/** A calendar year in the query: `year=2024`. */
export const yearParam = z
  .string()
  .regex(/^\d{4}$/, 'year must be a year like 2024.')
  .optional();

/** The language of the answer's text: Norwegian bokmål (the default) or English. Anything else reads as bokmål. */
export const langParam = z.string().optional().describe('nb (default) or en.');

/** One of a fixed list, with a message naming the list. */
export function oneOf<const T extends readonly [string, ...string[]]>(name: string, values: T) {
  return z.enum(values, `${name} must be one of ${values.join(', ')}.`);
}

/** A date in the query or body: YYYY-MM-DD. */
export function dateParam(name: string) {
  return z.string().regex(/^\d{4}-\d{2}-\d{2}$/, `${name} must be a date (YYYY-MM-DD).`);
}

/** The house answer to a refused request (server/app.ts, the error handler). */
export const errorAnswer = z
  .looseObject({
    error: z.string().describe('What was wrong and what to do, in English.'),
    code: z.string().optional().describe('Names the message for the web app, which says it in the reader’s language.'),
    location: z.string().optional().describe('Where in the request: query.year, path.caseId, body.values.comment.'),
    details: z.array(z.unknown()).optional(),
  })
  .describe('A refused request.');

/** A whole number from 0 to `max` in the query, as a number. */
export function boundedParam(name: string, max: number) {
  const message = `${name} must be a whole number from 0 to ${max}.`;
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, message)
    .transform(Number)
    .refine((n) => n <= max, message)
    .optional();
}

/** Which data: everything captured, or finalised registrations only. */
export const datasetParam = z
  .enum(['fresh', 'qa'], 'dataset must be fresh (all data) or qa (finalised registrations only).')
  .optional()
  .describe('fresh: everything captured; qa: finalised registrations only.');

/**
 * Query parameters read as text, each optional, with what it means: for routes whose handler
 * checks the values itself (a unit that must exist, a period that must fit the indicator).
 */
export function textQuery<const K extends string>(params: Record<K, string>) {
  const shape = Object.fromEntries(
    Object.entries<string>(params).map(([name, meaning]) => [name, z.string().optional().describe(meaning)]),
  );
  return z.object(shape as Record<K, z.ZodOptional<z.ZodString>>);
}

/**
 * Query parameters as text, unknown ones kept: for routes that pass the query on to a helper which
 * reads (and checks) further parameters itself.
 */
export function looseQuery<const K extends string>(params: Record<K, string>) {
  return textQuery(params).loose();
}

/**
 * A JSON object body whose fields the handler (or the module it calls) checks itself, with the
 * messages people already know: the schema names the fields for the description and refuses
 * anything that is not an object.
 */
export function looseBody(fields: string[]) {
  return z.looseObject(Object.fromEntries(fields.map((f) => [f, z.unknown().optional()])), 'Send a JSON object.');
}
