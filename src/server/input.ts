// Checks every request's input before any route sees it, so that a route cannot forget them:
// - a query parameter given twice (`?unit=a&unit=b`) arrives as an array where every route reads
//   a string, and failed deep inside as an internal error; it is refused, naming the parameter;
// - text PostgreSQL cannot store (NUL, lone surrogates; db/storable.ts) in a query parameter, a
//   path parameter or a JSON body is refused with its path instead of failing a statement.
// FHIR bodies are checked by the capture pipeline (capture/bundle.ts), which stores the message
// and answers with an OperationOutcome naming the element.
import type { FastifyRequest } from 'fastify';
import { describeUnstorable, findUnstorable, unstorableIn } from '../db/storable.ts';

export interface InputProblem {
  /** What was wrong and what to do. */
  message: string;
  /** Where: `query.unit`, `params.form`, `body.values.comment`. */
  location: string;
}

export function checkRequestInput(req: Pick<FastifyRequest, 'query' | 'params' | 'body' | 'url'>, opts: { body: boolean }): InputProblem | undefined {
  const query = (req.query ?? {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(query)) {
    const shown = unstorableIn(name) ? '(unreadable name)' : name;
    if (Array.isArray(value)) {
      return { location: `query.${shown}`, message: `The query parameter "${shown}" is given ${value.length} times; give each query parameter once.` };
    }
  }
  const where = findUnstorable(query, 'query') ?? findUnstorable(req.params ?? {}, 'path');
  if (where) return { location: where.path, message: describeUnstorable(where) };
  if (opts.body && req.body !== undefined && req.body !== null) {
    const inBody = findUnstorable(req.body, 'body');
    if (inBody) return { location: inBody.path, message: describeUnstorable(inBody) };
  }
  return undefined;
}

/** Media types a FHIR interaction accepts: FHIR JSON (R4: application/fhir+json; application/json too), in UTF-8. */
export function fhirContentTypeProblem(header: string | undefined): string | undefined {
  const expected = 'Send FHIR JSON with "Content-Type: application/fhir+json" (or application/json), in UTF-8.';
  if (!header) return `The request has no Content-Type. ${expected}`;
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/fhir+json' && type !== 'application/json') return `Content-Type ${JSON.stringify(type)} is not accepted here. ${expected}`;
  const charset = params.find((p) => p.startsWith('charset='))?.slice(8).replace(/"/g, '');
  if (charset && charset !== 'utf-8' && charset !== 'utf8') return `The character set ${JSON.stringify(charset)} is not accepted: FHIR JSON is UTF-8. ${expected}`;
  return undefined;
}
