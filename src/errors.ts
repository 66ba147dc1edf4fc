// One vocabulary for what went wrong. Every error the platform raises on purpose is a KvalregError
// of a kind: the kind says what the caller can do about it (fix the request, log in, ask for a
// role, look elsewhere, try again later), and decides the HTTP status and the FHIR issue code in
// one table, so no route and no handler decides them again. The domain's own errors extend it and
// keep their names where the name carries meaning (RecordError, AccessDenied, CaptureError, …).
//
// `message` is the English explanation for the API's readers and the log; `code` (with `params`)
// names the message for people, which the web app says in the reader's language from its own
// catalogue (web/src/messages.ts); `details` are per-field problems of a refused save.

/** What kind of refusal or failure, in the caller's terms. */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'gone'
  | 'too-large'
  | 'unsupported'
  | 'unprocessable'
  | 'throttled'
  | 'bad-gateway'
  | 'unavailable'
  | 'internal';

export interface KindInfo {
  status: number;
  /** The OperationOutcome issue code (FHIR R4 IssueType) on the FHIR API. */
  fhirCode: string;
  /** The title of a JSON problem (RFC 9457): the same for every error of the kind. */
  title: string;
  /** The web app's code when the error names none of its own (web/src/messages.ts). */
  code: string;
}

export const KINDS: Record<ErrorKind, KindInfo> = {
  invalid: { status: 400, fhirCode: 'invalid', title: 'Bad request', code: 'request.invalid' },
  unauthenticated: { status: 401, fhirCode: 'login', title: 'Authentication required', code: 'auth.required' },
  forbidden: { status: 403, fhirCode: 'forbidden', title: 'Forbidden', code: 'access.denied' },
  'not-found': { status: 404, fhirCode: 'not-found', title: 'Not found', code: 'not.found' },
  conflict: { status: 409, fhirCode: 'conflict', title: 'Conflict', code: 'conflict' },
  gone: { status: 410, fhirCode: 'deleted', title: 'Gone', code: 'not.found' },
  'too-large': { status: 413, fhirCode: 'too-long', title: 'Content too large', code: 'too.large' },
  unsupported: { status: 415, fhirCode: 'not-supported', title: 'Unsupported media type', code: 'request.invalid' },
  unprocessable: { status: 422, fhirCode: 'invalid', title: 'Unprocessable content', code: 'request.invalid' },
  throttled: { status: 429, fhirCode: 'throttled', title: 'Too many requests', code: 'rate.limited' },
  'bad-gateway': { status: 502, fhirCode: 'transient', title: 'Bad gateway', code: 'server.error' },
  unavailable: { status: 503, fhirCode: 'transient', title: 'Service unavailable', code: 'server.error' },
  internal: { status: 500, fhirCode: 'exception', title: 'Internal server error', code: 'server.error' },
};

/** The kind of an HTTP status, for errors that come with a status only (Fastify's own, a library's). */
export function kindOfStatus(status: number): ErrorKind {
  for (const [kind, info] of Object.entries(KINDS) as Array<[ErrorKind, KindInfo]>) if (info.status === status) return kind;
  if (status === 405 || status === 406) return 'unsupported';
  return status >= 500 ? 'internal' : 'invalid';
}

export interface ErrorExtras {
  /** Names the message for people (the web app's catalogue), e.g. "registry.unknown". */
  code?: string;
  params?: Record<string, string | number>;
  /** Per-field problems of a refused save, or other structured findings. */
  details?: unknown[];
  /** Where in the request the problem is (a query parameter, a FHIRPath). */
  location?: string;
}

export class KvalregError extends Error {
  readonly code?: string;
  readonly params?: Record<string, string | number>;
  readonly details: unknown[];
  readonly location?: string;

  constructor(
    readonly kind: ErrorKind,
    message: string,
    extras: ErrorExtras = {},
  ) {
    super(message);
    this.name = new.target.name;
    this.code = extras.code;
    this.params = extras.params;
    this.details = extras.details ?? [];
    this.location = extras.location;
  }

  /** The HTTP status of the kind. */
  get httpStatus(): number {
    return KINDS[this.kind].status;
  }
}
