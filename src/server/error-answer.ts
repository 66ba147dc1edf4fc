// The one place an error becomes an HTTP answer: a FHIR OperationOutcome on the FHIR API, a JSON
// problem (RFC 9457, application/problem+json) everywhere else. The status and the FHIR issue
// code come from the error's kind (src/errors.ts); the problem keeps the fields the web app and
// API clients read — `error` (the English explanation), `code` and `params` (the web app's
// catalogue), `details` (per-field problems) and `location` (where in the request). An error the
// platform did not raise on purpose says nothing of itself: 500, a generic message and the
// request id to quote, with the error logged under that id (every log line carries the id).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OperationOutcome } from 'fhir/r4.js';
import { CaptureError, operationOutcome } from '../capture/outcome.ts';
import { KINDS, kindOfStatus, KvalregError, type ErrorKind } from '../errors.ts';
import { redactText, redactUrl, safeError } from '../log/redact.ts';

const FHIR_JSON = 'application/fhir+json';
const PROBLEM_JSON = 'application/problem+json';

export interface ErrorAnswer {
  status: number;
  contentType: string;
  body: OperationOutcome | Problem;
  /** False for an error the platform did not raise on purpose: logged as a failure, its text kept back. */
  expected: boolean;
  kind: ErrorKind;
}

/** RFC 9457 problem details, with the fields the web app reads. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The same text as `detail`: what clients of this API have always read. */
  error: string;
  code: string;
  params?: Record<string, string | number>;
  details?: unknown[];
  location?: string;
  /** The id of the request, to quote when asking the registry about a failure. */
  requestId?: string;
}

export function internalMessage(requestId: string): string {
  return `An internal error occurred; it has been logged (request id ${requestId}). Try again, and contact the registry if it persists, quoting the request id.`;
}

/** The answer for any error: one of ours by its kind, a framework's by its 4xx status, anything else a 500. */
export function errorAnswer(err: unknown, o: { fhir: boolean; requestId: string }): ErrorAnswer {
  const ours = err instanceof KvalregError ? err : undefined;
  const frameworkStatus = !ours ? statusOf(err) : undefined;
  const kind: ErrorKind = ours ? ours.kind : frameworkStatus !== undefined ? kindOfStatus(frameworkStatus) : 'internal';
  const info = KINDS[kind];
  const expected = !!ours || frameworkStatus !== undefined;
  const status = ours ? info.status : (frameworkStatus ?? 500);
  // An internal error's text is for the log, even when raised on purpose (a registry declaration
  // that does not load names files of the deployment); other kinds speak to the caller.
  const reveal = expected && kind !== 'internal';
  const message = reveal ? String((err as Error).message) : internalMessage(o.requestId);
  if (o.fhir) {
    const body: OperationOutcome =
      err instanceof CaptureError && reveal && err.issues.length
        ? operationOutcome(err.issues)
        : {
            resourceType: 'OperationOutcome',
            issue: [
              {
                severity: 'error',
                code: info.fhirCode as 'invalid',
                diagnostics: message,
                ...(ours?.location ? { expression: [ours.location] } : {}),
              },
            ],
          };
    return { status, contentType: FHIR_JSON, body, expected, kind };
  }
  const body: Problem = {
    type: `urn:kvalreg:problem:${kind}`,
    title: info.title,
    status,
    detail: message,
    error: message,
    code: (reveal && ours?.code) || info.code,
    ...(reveal && ours?.params ? { params: ours.params } : {}),
    ...(reveal && ours?.details.length ? { details: ours.details } : {}),
    ...(ours?.location ? { location: ours.location } : {}),
    ...(!reveal ? { requestId: o.requestId } : {}),
  };
  return { status, contentType: PROBLEM_JSON, body, expected, kind };
}

/** Logs the error (a refusal at warn, a failure at error, never a URL's query values) and sends its answer. */
export function sendError(req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const answer = errorAnswer(err, { fhir: req.url.startsWith('/fhir'), requestId: String(req.id) });
  // Never the URL's query values nor a database error's detail: they may carry identity numbers or names.
  if (answer.status >= 500) req.log.error({ err: safeError(err), url: redactUrl(req.url) }, 'request failed');
  else
    req.log.warn({ status: answer.status, reason: redactText(String((err as Error).message)), url: redactUrl(req.url) }, 'request refused');
  return reply.code(answer.status).type(answer.contentType).send(answer.body);
}

/** The 4xx status a framework's or library's error carries (a body too large, JSON that does not parse). */
function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' && s >= 400 && s < 500 ? s : undefined;
}
