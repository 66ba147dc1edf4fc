// Checks every request's input before any route sees it, so that a route cannot forget them:
// - an identity number in the URL (query or path) is refused: URLs are logged everywhere;
// - a query parameter given twice (`?unit=a&unit=b`) arrives as an array where every route reads
//   a string, and failed deep inside as an internal error; it is refused, naming the parameter;
// - text PostgreSQL cannot store (NUL, lone surrogates; db/storable.ts) in a query parameter, a
//   path parameter or a JSON body is refused with its path instead of failing a statement.
// FHIR bodies are checked by the capture pipeline (capture/bundle.ts), which stores the message
// and answers with an OperationOutcome naming the element.
import type { FastifyRequest } from 'fastify';
import { describeUnstorable, findUnstorable, unstorableIn } from '../db/storable.ts';
import { identityNumbersIn } from '../identity/text.ts';

export interface InputProblem {
  /** What was wrong and what to do. */
  message: string;
  /** Where: `query.unit`, `params.form`, `body.values.comment`. */
  location: string;
}

/**
 * The URL's part: query parameters and path parameters. Checked first of all (before the caller's
 * access is decided, which records refused attempts with their path in the audit trail), so that
 * nothing downstream — a log line, an audit event, a statement — ever holds what it refuses.
 */
export function checkUrlInput(req: Pick<FastifyRequest, 'query' | 'params'>): InputProblem | undefined {
  const query = (req.query ?? {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(query)) {
    const shown = unstorableIn(name) || identityNumbersIn(name).length ? '(unreadable name)' : name;
    if (Array.isArray(value)) {
      return {
        location: `query.${shown}`,
        message: `The query parameter "${shown}" is given ${value.length} times; give each query parameter once.`,
      };
    }
  }
  const where = findUnstorable(query, 'query') ?? findUnstorable(req.params ?? {}, 'path');
  if (where) return { location: where.path, message: describeUnstorable(where) };
  // An identity number in a URL ends up in the logs of every proxy and browser on the way.
  const named = findIdentityNumber(query, 'query') ?? findIdentityNumber((req.params ?? {}) as Record<string, unknown>, 'path');
  if (named) {
    return {
      location: named,
      message:
        `Never put an identity number in a URL (URLs are logged, by us and by every proxy on the way): ${named} holds one. ` +
        'Send it in the body of a POST (e.g. POST /api/audit/search with {"nin": "…"}).',
    };
  }
  return undefined;
}

/** The JSON (or text) body of a route other than FHIR's: no text the database cannot store. */
export function checkBodyInput(req: Pick<FastifyRequest, 'body'>): InputProblem | undefined {
  if (req.body === undefined || req.body === null) return undefined;
  const inBody = findUnstorable(req.body, 'body');
  return inBody ? { location: inBody.path, message: describeUnstorable(inBody) } : undefined;
}

/** Where in a flat object of strings (a query, path parameters) a value or name holds an identity number. */
function findIdentityNumber(values: Record<string, unknown>, root: string): string | undefined {
  for (const [name, value] of Object.entries(values)) {
    if (identityNumbersIn(name).length) return `${root}.(name)`;
    if (typeof value === 'string' && identityNumbersIn(value).length) return `${root}.${name}`;
  }
  return undefined;
}

/** Media types a FHIR interaction accepts: FHIR JSON (R4: application/fhir+json; application/json too), in UTF-8. */
export function fhirContentTypeProblem(header: string | undefined): string | undefined {
  const expected = 'Send FHIR JSON with "Content-Type: application/fhir+json" (or application/json), in UTF-8.';
  if (!header) return `The request has no Content-Type. ${expected}`;
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/fhir+json' && type !== 'application/json')
    return `Content-Type ${JSON.stringify(type)} is not accepted here. ${expected}`;
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice(8)
    .replace(/"/g, '');
  if (charset && charset !== 'utf-8' && charset !== 'utf8')
    return `The character set ${JSON.stringify(charset)} is not accepted: FHIR JSON is UTF-8. ${expected}`;
  return undefined;
}
