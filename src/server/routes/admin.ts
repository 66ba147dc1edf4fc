// The platform admin's pages: the people who log in and their grants (changes audited, and the
// person's sessions ended so a removed grant does not live on). Quarantine (GET /api/inbox,
// reprocess), units (GET /api/units) and the audit trail (GET /api/audit) have their own routes.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { writeEvents } from '../../audit/trail.ts';
import { callerLabel, type Caller } from '../../access/caller.ts';
import { AccessDenied } from '../../access/door.ts';
import { listUsers, setGrants } from '../../access/users.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';
import type { Access } from '../access-policy.ts';
import { noQuery } from '../schemas.ts';

const PLATFORM_ADMINS: Access = { callers: ['platform-admin'] };

function requirePlatformAdmin(c: Caller): void {
  if (c.kind === 'user' && c.grants.some((g) => g.role === 'platform-admin' && g.registry === '*')) return;
  throw new AccessDenied('This is for the platform admin (of every registry).');
}

const grant = z.object({
  registry: z.string().describe('A registry id, or * for every registry.'),
  role: z.string().describe('unit-registrar, unit-reader, registry-admin, platform-admin, researcher, …'),
  unit: z.string().describe('The RESH id of the unit.'),
});
const grantsBody = z.object({ grants: z.array(grant).describe('Every grant the person is to have; the old ones are replaced.') });
const subjectParams = z.object({ subject: z.string().min(1).describe('The person’s subject at the login provider.') });

export async function adminRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/api/admin/users', { config: { access: PLATFORM_ADMINS }, schema: { querystring: noQuery } }, async (req) => {
    requirePlatformAdmin(req.caller!);
    return listUsers(platform.db.pool);
  });

  app.put(
    '/api/admin/users/:subject/grants',
    {
      config: { access: PLATFORM_ADMINS },
      schema: { summary: 'Set a person’s grants (their sessions end)', params: subjectParams, querystring: noQuery, body: grantsBody },
    },
    async (req) => {
      const c = req.caller!;
      requirePlatformAdmin(c);
      const problems = await setGrants(platform.db.pool, req.params.subject, req.body.grants, {
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
