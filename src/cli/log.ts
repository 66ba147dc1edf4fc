// The log of a command: to standard error, so that what a command prints on standard output (a CSV,
// JSON, a FHIR Bundle) is only its result and can be piped or saved as it is.
import pino, { type Logger } from 'pino';

export function cliLog(level = 'warn'): Logger {
  return pino({ level }, pino.destination(2));
}
