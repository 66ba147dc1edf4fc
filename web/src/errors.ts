// What a person reads when something the platform answered went wrong: the message named by the
// answer's code, from the catalogue in the reader's language, with its parameters filled in. The
// server's own (English) explanation never reaches a page; an unknown code gets the message of its
// kind.
import { ApiError } from './api.ts';

type Translate = (key: string, fallback: string) => string;

export function fill(text: string, params: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

export function errorText(err: unknown, tryT: Translate): string {
  if (err instanceof ApiError) {
    const generic = tryT(`error.code.${genericCode(err.status)}`, '');
    return fill(tryT(`error.code.${err.code ?? ''}`, generic || tryT('error.generic', '')), err.params);
  }
  // A network failure or a bug in the page: no answer to explain.
  return tryT('error.code.network', '');
}

/** The platform answered that the thing asked for (a registry, a case, an indicator, a patient) does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

function genericCode(status: number): string {
  if (status === 401) return 'auth.required';
  if (status === 403) return 'access.denied';
  if (status === 404) return 'not.found';
  if (status === 429) return 'rate.limited';
  if (status >= 500) return 'server.error';
  return 'request.invalid';
}
