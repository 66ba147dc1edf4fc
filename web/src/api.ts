// Talking to the platform: same-origin JSON, the session cookie sent by the browser, and the
// session's CSRF token on every request that changes something.
let csrfToken: string | undefined;
export function setCsrfToken(token: string | undefined) {
  csrfToken = token;
}

/**
 * A refusal or failure from the platform: `message` is the server's English explanation (for the
 * console); `code` and `params` name the message the page shows, from the catalogue in the reader's
 * language (see errorText in errors.ts); `details` are per-field problems of a refused save.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
    readonly params: Record<string, string | number> = {},
    readonly details: unknown[] = [],
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown; signal?: AbortSignal } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    signal: init.signal,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let data: any;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok)
    throw new ApiError(
      res.status,
      data?.error ?? `${res.status} ${res.statusText}`,
      data?.code ?? codeOfStatus(res.status),
      data?.params ?? {},
      Array.isArray(data?.details) ? data.details : [],
    );
  if (data === undefined && text) throw new ApiError(res.status, 'The answer was not JSON.', 'server.error');
  return data as T;
}

export interface GrantView {
  registry: string;
  role: string;
  unit: string;
  registryTitle: { nb: string; en: string };
  unitName: { nb: string; en: string };
}

export interface Me {
  kind: 'user' | 'system';
  via: 'session' | 'token';
  subject: string;
  name: string;
  patient: boolean;
  active: GrantView | null;
  grants: GrantView[];
  csrfToken?: string;
  expiresAt?: string;
}

export const grantKey = (g: Pick<GrantView, 'registry' | 'role' | 'unit'>) => `${g.registry}|${g.role}|${g.unit}`;

/** When an answer carries no code (a proxy's page, an old server): the code of its kind. */
function codeOfStatus(status: number): string {
  if (status === 401) return 'auth.required';
  if (status === 403) return 'access.denied';
  if (status === 404) return 'not.found';
  if (status === 429) return 'rate.limited';
  if (status >= 500) return 'server.error';
  return 'request.invalid';
}
