// Liveness (the process answers) and readiness (it can do its work: the database answers, no
// migration is pending, the background jobs have a living leader and keep up; server/readiness.ts).
import type { FastifyInstance } from 'fastify';
import { safeError } from '../../log/redact.ts';
import { PUBLIC } from '../access-policy.ts';
import { checkReadiness } from '../readiness.ts';
import type { RouteOptions } from './plugin.ts';

export async function healthRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.get('/health', { config: { access: PUBLIC } }, async () => ({ status: 'ok' }));
  app.get('/health/live', { config: { access: PUBLIC } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { config: { access: PUBLIC } }, async (req, reply) => {
    const ready = await checkReadiness(platform.db.url, {
      leaderStaleMs: platform.config.leaderStaleMs,
      lagFloorMs: platform.config.jobLagLimitMs,
    });
    if (ready.error) req.log.warn({ err: safeError(ready.error) }, 'not ready: the database does not answer');
    else if (!ready.ok) req.log.warn({ migrations: ready.body.migrations, jobs: ready.body.jobs }, 'not ready');
    reply.header('cache-control', 'no-store');
    return reply.code(ready.ok ? 200 : 503).send(ready.body);
  });
}
