// The inbox of raw messages: an admin of every registry lists them by status and reprocesses one
// (after a fix of the mapping, say). Messages span every registry.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noBody, oneOf, pageParam, positiveId } from '../schemas.ts';
import { ADMINS } from '../access-policy.ts';
import { requireAllRegistries } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function inboxRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/api/inbox',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'Received messages by status (quarantined by default)',
        querystring: z.object({
          status: oneOf('status', ['received', 'processed', 'quarantined', 'refused']).optional(),
          limit: pageParam('limit'),
        }),
      },
    },
    async (req) => {
      const c = req.caller!;
      requireAllRegistries(c);
      const status = req.query.status ?? 'quarantined';
      return platform.inbox.list(c, status, req.query.limit ?? 100);
    },
  );
  app.post(
    '/api/inbox/:messageId/reprocess',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'Process a message again',
        params: z.object({ messageId: positiveId('message') }),
        querystring: z.object({}),
        body: noBody,
      },
    },
    async (req, reply) => {
      const c = req.caller!;
      requireAllRegistries(c);
      const outcome = await platform.inbox.process(req.params.messageId, { reprocess: true });
      return reply.code(outcome.httpStatus).send({ messageId: outcome.messageId, status: outcome.status, outcome: outcome.body });
    },
  );
}
