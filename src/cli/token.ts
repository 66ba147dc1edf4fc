import type { Config } from '../config.ts';
import { ROLES, type Grant, type Role } from '../access/caller.ts';
import { createToken, DEFAULT_TOKEN_DAYS, listTokens, MAX_TOKEN_DAYS, registerClient, revokeTokens } from '../auth/tokens.ts';
import { startPlatform } from '../platform.ts';
import { cliLog } from './log.ts';
import { identifierSystemFor, identityFromIdentifier } from '../capture/identity.ts';
import type { Issue } from '../capture/outcome.ts';

/**
 * When a token issued now should expire: a duration (`36h`, `90d`, `12w`, `1y`) from now, or a
 * date (`2026-12-31`: the token works through that day, UTC). At most MAX_TOKEN_DAYS ahead.
 */
export function parseExpiry(value: string, now = new Date()): Date {
  const hint = 'write a duration such as 90d, 12w, 1y or 36h, or a date such as 2026-12-31';
  const duration = /^(\d{1,5})\s*([hdwy])$/i.exec(value.trim());
  let at: Date;
  if (duration) {
    const hours = { h: 1, d: 24, w: 24 * 7, y: 24 * 365 }[duration[2].toLowerCase() as 'h' | 'd' | 'w' | 'y'];
    at = new Date(now.getTime() + Number(duration[1]) * hours * 3_600_000);
  } else if (/^\d{4}-\d{2}-\d{2}$/.test(value.trim()) && !Number.isNaN(Date.parse(`${value.trim()}T00:00:00Z`))) {
    at = new Date(Date.parse(`${value.trim()}T00:00:00Z`) + 86_400_000);
  } else {
    throw new Error(`--expires ${value}: ${hint}`);
  }
  if (at.getTime() <= now.getTime()) throw new Error(`--expires ${value}: that is not in the future; ${hint}`);
  if (at.getTime() > now.getTime() + MAX_TOKEN_DAYS * 86_400_000)
    throw new Error(`--expires ${value}: a token may live at most ${MAX_TOKEN_DAYS / 365} years; issue a new one when it expires`);
  return at;
}

export async function tokenCommand(
  config: Config,
  o: { name: string; system?: string; grant?: string[]; patient?: string; expires?: string },
): Promise<void> {
  if (!o.system && !o.grant?.length && !o.patient)
    throw new Error(
      'give --system <sender> for a sending system, --grant registry:role:unit for a user, or --patient <identity number> for a patient',
    );
  const kind = o.system ? 'system' : 'user';
  const expiresAt = o.expires ? parseExpiry(o.expires) : new Date(Date.now() + DEFAULT_TOKEN_DAYS[kind] * 86_400_000);
  const grants: Grant[] = (o.grant ?? []).map((g) => {
    const [registry, role, unit] = g.split(':');
    if (!registry || !unit || !ROLES.includes(role as Role))
      throw new Error(`--grant ${g}: write registry:role:unit with a role among ${ROLES.join(', ')}`);
    return { registry, role: role as Role, unit };
  });
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    let personHash: Buffer | undefined;
    if (o.patient) {
      const issues: Issue[] = [];
      const identity = identityFromIdentifier(platform.keys, identifierSystemFor(o.patient), o.patient, '--patient', issues, {
        allowTestIdentities: config.allowTestIdentities,
      });
      if (!identity) throw new Error(`--patient: ${issues.map((i) => i.diagnostics).join('; ')}`);
      personHash = identity.hash;
      grants.push({ registry: '*', role: 'patient', unit: '1' });
    }
    const token = await createToken(platform.db.pool, { name: o.name, kind, sender: o.system, grants, personHash, expiresAt });
    console.log(token);
    // The token alone on stdout (for scripts); when it expires on stderr.
    console.error(`Token "${o.name}" expires ${expiresAt.toISOString()}.`);
  } finally {
    await platform.close();
  }
}

/** `kvalreg token revoke`: stops tokens at once, in every running server (they look tokens up on each request). */
export async function revokeCommand(config: Config, o: { name?: string; token?: string }): Promise<void> {
  if (!o.name === !o.token) throw new Error('give --name <name> (every live token with that name) or --token <token> (that token)');
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const revoked = await revokeTokens(platform.db.pool, o.token ? { token: o.token } : { name: o.name! });
    if (!revoked.length) throw new Error(o.token ? 'no live token is that token' : `no live token is named "${o.name}"`);
    console.log(
      `Revoked ${revoked.length} token${revoked.length > 1 ? 's' : ''}${o.name ? ` named "${o.name}"` : ` ("${revoked[0]}")`}: refused from now on.`,
    );
  } finally {
    await platform.close();
  }
}

/** `kvalreg token list`: every token issued, whether it still works, and until when (never the token). */
export async function listTokensCommand(config: Config): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const now = Date.now();
    for (const t of await listTokens(platform.db.pool)) {
      const state = t.revokedAt
        ? `revoked ${t.revokedAt.toISOString()}`
        : t.expiresAt.getTime() <= now
          ? `expired ${t.expiresAt.toISOString()}`
          : `expires ${t.expiresAt.toISOString()}`;
      console.log([t.name, t.kind === 'system' ? `system:${t.sender}` : 'user', `issued ${t.createdAt.toISOString()}`, state].join('\t'));
    }
  } finally {
    await platform.close();
  }
}

/** `kvalreg client add`: registers an OAuth2 client (e.g. a hospital system's HelseID client). */
export async function clientCommand(
  config: Config,
  o: { clientId: string; name: string; sender: string; orgnr?: string; registries?: string },
): Promise<void> {
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const registries = o.registries
      ? o.registries
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean)
      : [];
    const unknown = registries.filter((r) => !platform.registry(r));
    if (unknown.length)
      throw new Error(
        `unknown registr${unknown.length > 1 ? 'ies' : 'y'} ${unknown.join(', ')}; known: ${platform.registries.map((r) => r.id).join(', ')}`,
      );
    await registerClient(platform.db.pool, { clientId: o.clientId, name: o.name, sender: o.sender, orgnr: o.orgnr, registries });
    console.log(
      `Client ${o.clientId} registered as sender "${o.sender}"${registries.length ? `, reporting to ${registries.join(', ')}` : ', reporting to every registry whose rules match'}.`,
    );
  } finally {
    await platform.close();
  }
}
