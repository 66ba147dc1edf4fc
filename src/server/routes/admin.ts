// The platform admin's pages: the people who log in and their grants (changes audited, and the
// person's sessions ended so a removed grant does not live on). Quarantine (GET /api/inbox,
// reprocess), units (GET /api/units) and the audit trail (GET /api/audit) have their own routes.
import type { FastifyInstance } from 'fastify';
import { writeEvents } from '../../audit/trail.ts';
import { callerLabel, type Caller } from '../../access/caller.ts';
import { AccessDenied } from '../../access/door.ts';
import { listUsers, setGrants } from '../../access/users.ts';
import type { RouteOptions } from './plugin.ts';
import type { Access } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const PLATFORM_ADMINS: Access = { callers: ['platform-admin'] };

function requirePlatformAdmin(c: Caller): void {
  if (c.kind === 'user' && c.grants.some((g) => g.role === 'platform-admin' && g.registry === '*')) return;
  throw new AccessDenied('This is for the platform admin (of every registry).');
}

export async function adminRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.get('/api/admin/users', { config: { access: PLATFORM_ADMINS } }, async (req) => {
    requirePlatformAdmin(req.caller!);
    return listUsers(platform.db.pool);
  });

  app.put<{ Params: { subject: string }; Body: { grants?: unknown } }>(
    '/api/admin/users/:subject/grants',
    { config: { access: PLATFORM_ADMINS } },
    async (req) => {
      const c = req.caller!;
      requirePlatformAdmin(c);
      const problems = await setGrants(platform.db.pool, req.params.subject, req.body?.grants, {
        registries: platform.registries.map((r) => r.id),
        units: (u) => platform.units.has(u),
      });
      if (problems.length)
        throw new KvalregError('unprocessable', `The grants were not changed: ${problems.join('; ')}.`, {
          details: problems.map((message) => ({ rule: 'grant', message })),
          code: 'form.notSaved',
        });
      await writeEvents(platform.db.pool, [
        {
          actor: callerLabel(c),
          role: 'platform-admin',
          unit: null,
          personId: null,
          action: 'grants',
          object: `user/${req.params.subject}`,
          purpose: 'admin:grants',
          outcome: 'ok',
          client: req.ip,
        },
      ]);
      return (await listUsers(platform.db.pool)).find((u) => u.subject === req.params.subject);
    },
  );
}
