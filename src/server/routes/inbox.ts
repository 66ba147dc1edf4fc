// The inbox of raw messages: an admin of every registry lists them by status and reprocesses one
// (after a fix of the mapping, say). Messages span every registry.
import type { FastifyInstance } from 'fastify';
import { ADMINS } from '../access-policy.ts';
import { pageParam, positiveId, requireAllRegistries } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function inboxRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.get<{ Querystring: { status?: string; limit?: string } }>('/api/inbox', { config: { access: ADMINS } }, async (req) => {
    const c = req.caller!;
    requireAllRegistries(c);
    const status = req.query.status ?? 'quarantined';
    if (!['received', 'processed', 'quarantined', 'refused'].includes(status))
      throw new KvalregError('invalid', 'status must be received, processed, quarantined or refused.');
    return platform.inbox.list(c, status, pageParam(req.query.limit, 'limit', 100));
  });
  app.post<{ Params: { messageId: string } }>('/api/inbox/:messageId/reprocess', { config: { access: ADMINS } }, async (req, reply) => {
    const c = req.caller!;
    requireAllRegistries(c);
    const outcome = await platform.inbox.process(positiveId(req.params.messageId, 'message'), { reprocess: true });
    return reply.code(outcome.httpStatus).send({ messageId: outcome.messageId, status: outcome.status, outcome: outcome.body });
  });
}
