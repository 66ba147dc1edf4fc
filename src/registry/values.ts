// Turns an incoming value (from FHIR or from a form) into the typed value the codebook declares,
// or explains why it cannot. Shared by automated capture, bulk import and manual completion so
// that a value means the same whichever way it arrived.
import { osloDate } from '../time/oslo.ts';
import type { Registry } from './load.ts';

export type Coerced = { ok: true; value: string | number | boolean } | { ok: false; problem: string; rule: string; suggestion?: string };

/**
 * How far ahead of the platform's clock a date-time may be: a sending system's clock may run a
 * little fast, but nothing registered has happened in the future (e.g. a fracture dated 2030, an injury
 * in 2031 typed into a form: both refused).
 */
export const CLOCK_SKEW_MS = 10 * 60_000;

export interface CoerceOptions {
  /** The moment "now" (for tests); default the clock. */
  now?: Date;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-](0\d|1[0-4]):[0-5]\d)$/;

/** A FHIR dateTime with a time of day and a zone, on a real calendar date (never 24:00). */
export function isDateTime(s: string): boolean {
  return DATETIME.test(s) && isRealDate(s.slice(0, 10)) && !Number.isNaN(Date.parse(s));
}

export function isRealDate(s: string): boolean {
  const m = DATE.exec(s);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
}

export function coerceValue(registry: Registry, variable: string, raw: unknown, opts: CoerceOptions = {}): Coerced {
  const entry = registry.variables.get(variable);
  if (!entry) return { ok: false, problem: `"${variable}" is not a variable of the ${registry.id} registry`, rule: 'unknown-variable' };
  const def = entry.def;
  const bad = (problem: string, rule = `type:${def.type}`): Coerced => ({ ok: false, problem, rule });
  switch (def.type) {
    case 'text':
      if (typeof raw !== 'string' && typeof raw !== 'number') return bad(`${variable} must be text`);
      return { ok: true, value: String(raw) };
    case 'integer':
    case 'decimal': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) return bad(`${variable} must be a number`);
      if (def.type === 'integer' && !Number.isInteger(n)) return bad(`${variable} must be a whole number`);
      if (def.range?.min !== undefined && n < def.range.min)
        return bad(`${variable} must be at least ${def.range.min}${def.unit ? ` ${def.unit}` : ''}`, 'range');
      if (def.range?.max !== undefined && n > def.range.max)
        return bad(`${variable} must be at most ${def.range.max}${def.unit ? ` ${def.unit}` : ''}`, 'range');
      return { ok: true, value: n };
    }
    case 'boolean':
      if (raw === true || raw === 'true') return { ok: true, value: true };
      if (raw === false || raw === 'false') return { ok: true, value: false };
      return bad(`${variable} must be true or false`);
    case 'date': {
      if (typeof raw !== 'string') return bad(`${variable} must be a date (YYYY-MM-DD)`);
      if (raw.length > 10) {
        if (!isDateTime(raw)) return bad(`${variable} must be a real date, or a date and time with a time zone (hours 00–23)`);
        const date = osloDate(raw);
        return date > today(opts) ? future(variable, date) : { ok: true, value: date };
      }
      if (!isRealDate(raw)) return bad(`${variable} must be a real calendar date written YYYY-MM-DD`);
      return raw > today(opts) ? future(variable, raw) : { ok: true, value: raw };
    }
    case 'datetime': {
      if (typeof raw === 'string' && /T24:/.test(raw)) return bad(`${variable}: 24:00 is not a valid time; use 00:00 of the next day`);
      if (typeof raw !== 'string' || !isDateTime(raw)) {
        return bad(`${variable} must be a real date and a time (00:00–23:59) with a time zone, e.g. 2024-03-01T14:30:00+01:00`);
      }
      if (Date.parse(raw) > (opts.now ?? new Date()).getTime() + CLOCK_SKEW_MS) return future(variable, raw);
      return { ok: true, value: new Date(raw).toISOString() };
    }
    case 'code': {
      const code = typeof raw === 'string' || typeof raw === 'number' ? String(raw) : undefined;
      const list = registry.codelists.get(def.codelist!)!;
      if (code === undefined || !list.codes.has(code)) {
        // A code of an older version of the classification: say which current code it becomes.
        const suggestion = code === undefined ? undefined : currentCodeFor(registry, def.codelist!, code);
        return {
          ...bad(
            `${JSON.stringify(raw)} is not a code in ${list.id} (${list.title.en}) for ${variable}${suggestion ? `; did you mean ${suggestion}? (${JSON.stringify(raw)} is written in an older version of the classification)` : ''}`,
            `codelist:${list.id}`,
          ),
          ...(suggestion ? { suggestion } : {}),
        };
      }
      return { ok: true, value: code };
    }
  }
}

function today(opts: CoerceOptions): string {
  return osloDate(opts.now ?? new Date());
}

function future(variable: string, value: string): Coerced {
  return {
    ok: false,
    problem: `${variable} is in the future (${value}); what is registered has already happened: check the date`,
    rule: 'not-in-future',
  };
}

/**
 * The current code an older version's code maps to, by the registry's version map for the list
 * (`codeVersionMaps` in the codebook), when the mapped code is valid; otherwise none.
 */
export function currentCodeFor(registry: Registry, codelist: string, code: string): string | undefined {
  const map = registry.versionMaps.get(codelist);
  const list = registry.codelists.get(codelist);
  if (!map || !list) return undefined;
  const normalised = code.replace(/[\s-]/g, '').toUpperCase();
  const mapped = map(normalised).code;
  return mapped && mapped !== code && list.codes.has(mapped) ? mapped : undefined;
}
