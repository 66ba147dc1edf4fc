// A reservation (opting out) registered by the registry for a patient who asked by letter or
// telephone: it concerns every registry, so only an admin of every registry may register it.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery } from '../schemas.ts';
import { identityFromIdentifier, NIN_SYSTEMS } from '../../capture/identity.ts';
import { reserve } from '../../records/reservation.ts';
import { ADMINS } from '../access-policy.ts';
import { requireAllRegistries } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function reservationRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/api/reservations',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'Register a patient’s reservation (opting out), asked for by letter or telephone',
        querystring: noQuery,
        body: z
          .object({
            system: z.string().optional().describe('The identifier system (a national identity number by default).'),
            value: z.string().optional().describe('The patient’s number.'),
            channel: z.string().optional().describe('How the patient asked (default registry).'),
          })
          .nullish(),
      },
    },
    async (req, reply) => {
      const c = req.caller!;
      requireAllRegistries(c);
      const issues: any[] = [];
      const identity = identityFromIdentifier(
        platform.keys,
        req.body?.system ?? Object.keys(NIN_SYSTEMS)[0],
        req.body?.value ?? '',
        'value',
        issues,
        { allowTestIdentities: platform.config.allowTestIdentities },
      );
      if (!identity)
        throw new KvalregError(
          'unprocessable',
          `Cannot register the reservation: ${issues.map((i) => i.diagnostics).join('; ') || 'give {"value": "<national identity number>"}'}.`,
        );
      const result = await platform.data.transaction(
        c,
        'reservation',
        (tx) => reserve(tx, identity, req.body?.channel ?? 'registry', platform.keys),
        { client: req.ip },
      );
      return reply.code(201).send({ reserved: true, ...result });
    },
  );
}
