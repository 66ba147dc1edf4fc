// Talking to the platform: same-origin JSON, the session cookie sent by the browser, and the
// session's CSRF token on every request that changes something.
let csrfToken: string | undefined;
export function setCsrfToken(token: string | undefined) { csrfToken = token; }

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new ApiError(res.status, data?.error ?? `${res.status} ${res.statusText}`);
  return data as T;
}

export interface GrantView {
  registry: string; role: string; unit: string;
  registryTitle: { nb: string; en: string }; unitName: { nb: string; en: string };
}

export interface Me {
  kind: 'user' | 'system'; via: 'session' | 'token'; subject: string; name: string; patient: boolean;
  active: GrantView | null; grants: GrantView[]; csrfToken?: string; expiresAt?: string;
}

export const grantKey = (g: Pick<GrantView, 'registry' | 'role' | 'unit'>) => `${g.registry}|${g.role}|${g.unit}`;
