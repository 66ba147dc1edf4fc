// The log of a command: to standard error, so that what a command prints on standard output (a CSV,
// JSON, a FHIR Bundle) is only its result and can be piped or saved as it is. Redacted like every
// log (no identity numbers, log/redact.ts).
import pino, { type Logger } from 'pino';
import { createLogger } from '../log/redact.ts';

export function cliLog(level = 'warn'): Logger {
  return createLogger(level, pino.destination({ dest: 2, sync: true }));
}
