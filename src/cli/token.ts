import type { Config } from '../config.ts';
import { ROLES, type Grant, type Role } from '../access/caller.ts';
import { createToken } from '../access/tokens.ts';
import { startPlatform } from '../platform.ts';
import pino from 'pino';

export async function tokenCommand(config: Config, o: { name: string; system?: string; grant?: string[] }): Promise<void> {
  if (!o.system && !o.grant?.length) throw new Error('give --system <sender> for a sending system, or --grant registry:role:unit for a user');
  const grants: Grant[] = (o.grant ?? []).map((g) => {
    const [registry, role, unit] = g.split(':');
    if (!registry || !unit || !ROLES.includes(role as Role)) throw new Error(`--grant ${g}: write registry:role:unit with a role among ${ROLES.join(', ')}`);
    return { registry, role: role as Role, unit };
  });
  const platform = await startPlatform(config, { log: pino({ level: 'warn' }) });
  try {
    const token = await createToken(platform.db.pool, { name: o.name, kind: o.system ? 'system' : 'user', sender: o.system, grants });
    console.log(token);
  } finally {
    await platform.close();
  }
}
