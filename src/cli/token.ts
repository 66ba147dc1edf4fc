import type { Config } from '../config.ts';
import { ROLES, type Grant, type Role } from '../access/caller.ts';
import { createToken, registerClient } from '../access/tokens.ts';
import { startPlatform } from '../platform.ts';
import { cliLog } from './log.ts';
import { identityFromIdentifier } from '../capture/identity.ts';
import type { Issue } from '../capture/outcome.ts';
import { parseNin } from '../identity/nin.ts';

/** The identifier system that fits the number (D-numbers have their own). */
const NIN_SYSTEM_OF = (nin: string) => { const p = parseNin(nin); return p.ok && p.kind.endsWith('dnr') ? 'urn:oid:2.16.578.1.12.4.1.4.2' : p.ok && p.kind === 'hnr' ? 'urn:oid:2.16.578.1.12.4.1.4.3' : 'urn:oid:2.16.578.1.12.4.1.4.1'; };

export async function tokenCommand(config: Config, o: { name: string; system?: string; grant?: string[]; patient?: string }): Promise<void> {
  if (!o.system && !o.grant?.length && !o.patient) throw new Error('give --system <sender> for a sending system, --grant registry:role:unit for a user, or --patient <identity number> for a patient');
  const grants: Grant[] = (o.grant ?? []).map((g) => {
    const [registry, role, unit] = g.split(':');
    if (!registry || !unit || !ROLES.includes(role as Role)) throw new Error(`--grant ${g}: write registry:role:unit with a role among ${ROLES.join(', ')}`);
    return { registry, role: role as Role, unit };
  });
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    let personHash: Buffer | undefined;
    if (o.patient) {
      const issues: Issue[] = [];
      const identity = identityFromIdentifier(platform.keys, NIN_SYSTEM_OF(o.patient), o.patient, '--patient', issues);
      if (!identity) throw new Error(`--patient: ${issues.map((i) => i.diagnostics).join('; ')}`);
      personHash = identity.hash;
      grants.push({ registry: '*', role: 'patient', unit: '1' });
    }
    const token = await createToken(platform.db.pool, { name: o.name, kind: o.system ? 'system' : 'user', sender: o.system, grants, personHash });
    console.log(token);
  } finally {
    await platform.close();
  }
}

/** `kvalreg client add`: registers an OAuth2 client (e.g. a hospital system's HelseID client). */
export async function clientCommand(config: Config, o: { clientId: string; name: string; sender: string; orgnr?: string; registries?: string }): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const registries = o.registries ? o.registries.split(',').map((r) => r.trim()).filter(Boolean) : [];
    const unknown = registries.filter((r) => !platform.registry(r));
    if (unknown.length) throw new Error(`unknown registr${unknown.length > 1 ? 'ies' : 'y'} ${unknown.join(', ')}; known: ${platform.registries.map((r) => r.id).join(', ')}`);
    await registerClient(platform.db.pool, { clientId: o.clientId, name: o.name, sender: o.sender, orgnr: o.orgnr, registries });
    console.log(`Client ${o.clientId} registered as sender "${o.sender}"${registries.length ? `, reporting to ${registries.join(', ')}` : ', reporting to every registry whose rules match'}.`);
  } finally {
    await platform.close();
  }
}
