// A reservation (opting out) registered by the registry for a patient who asked by letter or
// telephone: it concerns every registry, so only an admin of every registry may register it.
import type { FastifyInstance } from 'fastify';
import { identityFromIdentifier, NIN_SYSTEMS } from '../../capture/identity.ts';
import { reserve } from '../../records/reservation.ts';
import { ADMINS } from '../access-policy.ts';
import { requireAllRegistries } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function reservationRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.post<{ Body: { system?: string; value?: string; channel?: string } }>(
    '/api/reservations',
    { config: { access: ADMINS } },
    async (req, reply) => {
      const c = req.caller!;
      requireAllRegistries(c);
      const issues: any[] = [];
      const identity = identityFromIdentifier(
        platform.keys,
        req.body?.system ?? Object.keys(NIN_SYSTEMS)[0],
        String(req.body?.value ?? ''),
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
