// Liveness (the process answers) and readiness (it can do its work: the database answers, no
// migration is pending, the background jobs have a living leader and keep up; server/readiness.ts).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery } from '../schemas.ts';
import { safeError } from '../../log/redact.ts';
import { PUBLIC } from '../access-policy.ts';
import { checkReadiness } from '../readiness.ts';
import type { RouteOptions } from './plugin.ts';

const ok = z.object({ status: z.literal('ok') });

export async function healthRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const live = { querystring: noQuery, response: { 200: ok } };
  app.get('/health', { config: { access: PUBLIC }, schema: { ...live, summary: 'The process answers' } }, async () => ({
    status: 'ok' as const,
  }));
  app.get('/health/live', { config: { access: PUBLIC }, schema: { ...live, summary: 'The process answers' } }, async () => ({
    status: 'ok' as const,
  }));
  app.get(
    '/health/ready',
    {
      config: { access: PUBLIC },
      schema: {
        querystring: noQuery,
        summary: 'Ready to work: the database answers, migrations are current, the background jobs have a leader and keep up (503 if not)',
      },
    },
    async (req, reply) => {
      const ready = await checkReadiness(platform.db.url, {
        leaderStaleMs: platform.config.leaderStaleMs,
        lagFloorMs: platform.config.jobLagLimitMs,
      });
      if (ready.error) req.log.warn({ err: safeError(ready.error) }, 'not ready: the database does not answer');
      else if (!ready.ok) req.log.warn({ migrations: ready.body.migrations, jobs: ready.body.jobs }, 'not ready');
      reply.header('cache-control', 'no-store');
      return reply.code(ready.ok ? 200 : 503).send(ready.body);
    },
  );
}
