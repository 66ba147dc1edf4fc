// Research extracts for approved projects: delivered, logged, reproducible (research/extract.ts).
import type { FastifyInstance } from 'fastify';
import { deliverExtract, reproduceExtract } from '../../research/extract.ts';
import { ADMINS } from '../access-policy.ts';
import { positiveId, registryIn, userOf } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';

export async function extractRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string) => registryIn(platform, id);

  app.post<{ Params: { id: string }; Body: unknown }>(
    '/api/registries/:id/extracts',
    { config: { access: ADMINS } },
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
  app.get<{ Params: { id: string; deliveryId: string } }>(
    '/api/registries/:id/extracts/:deliveryId/reproduce',
    { config: { access: ADMINS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(
        c,
        'research-extract:reproduce',
        (tx) => {
          tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']);
          return reproduceExtract(tx, r, positiveId(req.params.deliveryId, 'delivery'), platform.keys);
        },
        { readOnly: true, client: req.ip },
      );
    },
  );
}
