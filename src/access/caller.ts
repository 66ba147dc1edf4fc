// Who is asking: a sending system, a user with grants, or the platform's own background work.
export const ROLES = ['platform-admin', 'registry-admin', 'unit-registrar', 'unit-reader', 'researcher', 'patient'] as const;
export type Role = (typeof ROLES)[number];

export interface Grant {
  registry: string;
  role: Role;
  unit: string;
}

export type Caller =
  | { kind: 'system'; sender: string; name: string; /** the registries it may report to; absent = all */ registries?: string[] }
  | {
      kind: 'user';
      user: string;
      name: string;
      grants: Grant[];
      /** a patient: the keyed hash of their identity number (hex) */ personHash?: string;
    }
  | { kind: 'platform'; task: string };

export function callerLabel(c: Caller): string {
  return c.kind === 'system' ? `system:${c.sender}` : c.kind === 'user' ? `user:${c.user}` : `platform:${c.task}`;
}
