// Research extracts for approved projects: delivered, logged, reproducible (research/extract.ts).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery, positiveId as idSchema, registryParams } from '../schemas.ts';
import { deliverExtract, reproduceExtract } from '../../research/extract.ts';
import { ADMINS } from '../access-policy.ts';
import { positiveId, registryIn, userOf } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';

export async function extractRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const registryOf = (id: string) => registryIn(platform, id);

  app.post(
    '/api/registries/:id/extracts',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'Deliver a research extract for an approved project (docs/research.md)',
        params: registryParams,
        querystring: noQuery,
        body: z.record(z.string(), z.unknown(), 'Send the extract’s definition as a JSON object (docs/research.md).'),
      },
    },
    async (req, reply) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      const delivery = await platform.data.transaction(
        c,
        'research-extract',
        (tx) => {
          tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']); // an admin of this registry, not of another
          return deliverExtract(tx, r, req.body, platform.keys, userOf(c));
        },
        { client: req.ip },
      );
      return reply.code(201).send(delivery);
    },
  );
  app.get(
    '/api/registries/:id/extracts/:deliveryId/reproduce',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'Reproduce a delivered extract and compare it with what was delivered',
        params: registryParams.extend({ deliveryId: idSchema('delivery') }),
        querystring: noQuery,
      },
    },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(
        c,
        'research-extract:reproduce',
        (tx) => {
          tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']);
          return reproduceExtract(tx, r, req.params.deliveryId, platform.keys);
        },
        { readOnly: true, client: req.ip },
      );
    },
  );
}
