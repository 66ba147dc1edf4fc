// An identity for a patient whose identity is unknown: sent later as Patient.identifier with
// system urn:kvalreg:auxiliary-number. It can never collide with a national identity number.
import type { FastifyInstance } from 'fastify';
import { AUX_SYSTEM } from '../../capture/identity.ts';
import { auxiliaryNumber } from '../../identity/nin.ts';
import type { RouteOptions } from './plugin.ts';

export async function auxiliaryNumberRoutes(app: FastifyInstance, _opts: RouteOptions): Promise<void> {
  app.post(
    '/api/auxiliary-numbers',
    { config: { access: { callers: ['system', 'unit-registrar', 'registry-admin', 'platform-admin'] } } },
    async (_req, reply) => {
      return reply.code(201).send({ system: AUX_SYSTEM, value: auxiliaryNumber() });
    },
  );
}
