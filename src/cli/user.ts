// `kvalreg user`: who may do what after logging in. The login service says who a person is
// (their subject); the registry decides their grants here.
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import { parseGrant, setUser } from '../auth/sessions.ts';
import { startPlatform } from '../platform.ts';

export async function userCommand(config: Config, o: { subject: string; name: string; grant: string[] }): Promise<void> {
  const grants = o.grant.map((g) => {
    try {
      return parseGrant(g);
    } catch (err) {
      throw new Error(`--grant ${(err as Error).message}`);
    }
  });
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    for (const g of grants) {
      if (g.registry !== '*' && !platform.registry(g.registry))
        throw new Error(
          `--grant ${g.registry}:${g.role}:${g.unit}: unknown registry "${g.registry}"; known: ${platform.registries.map((r) => r.id).join(', ')}`,
        );
      if (!platform.units.has(g.unit))
        throw new Error(`--grant ${g.registry}:${g.role}:${g.unit}: unknown unit "${g.unit}" (a RESH id of the organisation hierarchy)`);
    }
    await setUser(platform.db.pool, { subject: o.subject, name: o.name, grants });
    console.log(
      `${o.name} (${o.subject}): ${grants.length ? grants.map((g) => `${g.registry}:${g.role}:${g.unit}`).join(', ') : 'no grants'}`,
    );
  } finally {
    await platform.close();
  }
}
