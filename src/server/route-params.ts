// The few checks many routes share: a registry named in the path, ids and page parameters that
// must be whole numbers, a form instance in the path, and who acts for a caller. Each refuses
// with a message saying what was wrong.
import type { Caller } from '../access/caller.ts';
import { AccessDenied } from '../access/door.ts';
import type { Platform } from '../platform.ts';
import type { Registry } from '../registry/load.ts';
import { KvalregError } from '../errors.ts';

export function registryIn(platform: Platform, id: string): Registry {
  const r = platform.registry(id);
  if (!r) throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`);
  return r;
}

/** Who a change is recorded as made by: the user, the sending system, or the platform's task. */
export const userOf = (c: Caller) => (c.kind === 'user' ? c.user : c.kind === 'system' ? c.sender : c.task);

export type FormParams = { id: string; caseId: string; form: string; instance?: string };

/** The form instance named in the path ('' for a form that has one instance per case). */
export const instanceOf = (p: FormParams) => {
  try {
    return p.instance ? decodeURIComponent(p.instance) : '';
  } catch {
    throw new KvalregError('invalid', `"${p.instance}" is not a form instance: a stray "%" in the path.`);
  }
};

/** Raw messages and reservations span every registry: only an admin of every registry may act on them. */
export function requireAllRegistries(c: Caller): void {
  if (c.kind === 'user' && c.grants.some((g) => g.registry === '*' && (g.role === 'registry-admin' || g.role === 'platform-admin'))) return;
  throw new AccessDenied('This concerns every registry: it needs an admin role for all registries ("*").');
}

export function positiveId(raw: string, what: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new KvalregError('invalid', `"${raw}" is not a ${what} id: ${what} ids are positive whole numbers.`);
  return id;
}

export function pageParam(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new KvalregError('invalid', `${name} must be a whole number of 0 or more.`);
  return n;
}
