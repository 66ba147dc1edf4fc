// Logs never hold identity numbers, nor the text around a value that PostgreSQL quotes in an
// error. Two layers, because either alone has a gap:
// - serializers shape what is logged: an error keeps its kind, code and (redacted) message, never
//   the `detail`, `where` (CONTEXT), `hint` or internal query a database error carries — those
//   quote the data (a JSON error's context is the text around the bad character, a unique
//   violation's detail the key); a request is logged by its path, its query parameters by name only;
// - the destination redacts every line as written: whatever a log call passes (a message echoing
//   a request, a binding, an error from a library) loses its identity numbers on the way out.
// Names cannot be found in arbitrary text; keeping them out is the serializers' job (no error
// context, no query values, issues logged by location and rule — see capture/inbox.ts).
import pino, { type DestinationStream, type Logger, type SerializerFn } from 'pino';
import { redactIdentityNumbers } from '../identity/text.ts';
import { requestContext } from './context.ts';

/** `text` without identity numbers. */
export function redactText(text: string): string {
  return redactIdentityNumbers(text).text;
}

/**
 * A URL for the log: the path with identity numbers redacted (`/fhir/Patient/<number>`), the query
 * reduced to its parameter names (`?identifier=…&unit=…`). Values are what a caller typed; they
 * may be a name or a number written some way no scanner recognises.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = redactText(q < 0 ? url : url.slice(0, q));
  if (q < 0) return path;
  const names = url
    .slice(q + 1)
    .split('&')
    .filter(Boolean)
    .map((pair) => redactText(pair.split('=')[0]));
  return `${path}?${names.map((n) => `${n}=…`).join('&')}`;
}

/** Fields of a PostgreSQL error (node-postgres DatabaseError) that name the failure, not the data. */
const DATABASE_FIELDS = ['code', 'severity', 'routine', 'schema', 'table', 'column', 'constraint', 'dataType'] as const;
/** Plain fields other errors carry (Node system errors, HTTP errors) that are safe as they are. */
const PLAIN_FIELDS = ['code', 'statusCode', 'errno', 'syscall'] as const;

function isDatabaseError(err: Error): err is Error & Record<(typeof DATABASE_FIELDS)[number] | 'where' | 'detail', unknown> {
  return 'severity' in err && 'routine' in err && 'code' in err;
}

/**
 * A PostgreSQL message quotes the offending value in a few fixed forms
 * (`invalid input syntax for type integer: "…"`, `value "…" is out of range`, `malformed array literal: "…"`):
 * the value goes, the form stays. Quoted identifiers (`relation "case_form"`) stay too.
 */
function redactDatabaseMessage(message: string): string {
  return message
    .replace(/: ".*"$/s, ': "…"')
    .replace(/\bvalue "(?:[^"\\]|\\.)*"/g, 'value "…"')
    .replace(/"((?:[^"\\]|\\.)*)"/g, (whole, inner: string) => (/^[A-Za-z_][A-Za-z0-9_$.]*$/.test(inner) || inner === '…' ? whole : '"…"'));
}

/** An error as it may be logged: kind, code, redacted message and stack, and its cause the same way. */
export function safeError(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error)) {
    if (typeof err === 'string') return redactText(err);
    return err === null || typeof err !== 'object' ? err : { type: 'non-error', value: redactText(String(err)) };
  }
  const database = isDatabaseError(err);
  const message = redactText(database ? redactDatabaseMessage(err.message) : err.message);
  const out: Record<string, unknown> = { type: err.name || err.constructor?.name || 'Error', message };
  for (const f of database ? DATABASE_FIELDS : PLAIN_FIELDS) {
    const v = (err as unknown as Record<string, unknown>)[f];
    if (v !== undefined && (typeof v === 'string' || typeof v === 'number')) out[f] = typeof v === 'string' ? redactText(v) : v;
  }
  if (database && (err.where !== undefined || err.detail !== undefined)) out.redacted = 'detail and context left out: they quote the data';
  if (typeof err.stack === 'string') {
    // The first line of a stack repeats the message.
    const stack = err.message ? err.stack.split(err.message).join(message) : err.stack;
    out.stack = redactText(stack);
  }
  if (err.cause !== undefined && depth < 3) out.cause = safeError(err.cause, depth + 1);
  if (err instanceof AggregateError && depth < 3) out.errors = err.errors.slice(0, 10).map((e) => safeError(e, depth + 1));
  return out;
}

/** A request as it may be logged (the Fastify request object). */
export function safeRequest(req: { method?: string; url?: string; ip?: string; id?: unknown }): Record<string, unknown> {
  return { method: req.method, url: typeof req.url === 'string' ? redactUrl(req.url) : undefined, remoteAddress: req.ip };
}

export const logSerializers: Record<string, SerializerFn> = { err: safeError, error: safeError, req: safeRequest };

/**
 * Secrets as they appear in text: a bearer token, the password of a connection URL
 * (postgres://user:password@host, smtp://user:password@host), a key or secret given as name=value.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/(\bBearer\s+)[A-Za-z0-9._~+/=-]{16,}/gi, '$1[redacted]')
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"]+:)[^@\s"]+@/gi, '$1[redacted]@')
    .replace(/((?:password|passwd|secret|api[_-]?key|client[_-]?secret|access[_-]?token)["']?\s*[:=]\s*["']?)[^\s"',&]+/gi, '$1[redacted]');
}

/** Fields that hold secrets wherever they appear in a logged object: their values are never written. */
export const SECRET_PATHS = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'clientSecret',
  '*.clientSecret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'req.headers["set-cookie"]',
  '*.headers["set-cookie"]',
];

/** A destination that writes every line without identity numbers or secrets. */
export function redactingDestination(dest: DestinationStream = pino.destination({ dest: 1 })): DestinationStream {
  return { write: (line: string) => dest.write(redactSecrets(redactText(line))) };
}

/**
 * The platform's logger: JSON lines on stdout (or `dest`), with the serializers, secret fields
 * censored, the redacting destination, and the request id of the request being handled (`reqId`,
 * as the HTTP server's own request lines name it) on every line written while handling it.
 */
export function createLogger(level: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: logSerializers,
      redact: { paths: SECRET_PATHS, censor: '[redacted]' },
      mixin: (_obj, _level, logger) => {
        const ctx = requestContext.getStore();
        // The HTTP server's request logger already binds reqId: not twice on one line.
        return ctx && !(logger as Logger).bindings().reqId ? { reqId: ctx.reqId } : {};
      },
    },
    redactingDestination(dest),
  );
}
