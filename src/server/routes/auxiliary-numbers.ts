// An identity for a patient whose identity is unknown: sent later as Patient.identifier with
// system urn:kvalreg:auxiliary-number. It can never collide with a national identity number.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noBody, noQuery } from '../schemas.ts';
import { AUX_SYSTEM } from '../../capture/identity.ts';
import { auxiliaryNumber } from '../../identity/nin.ts';
import type { RouteOptions } from './plugin.ts';

export async function auxiliaryNumberRoutes(fastify: FastifyInstance, _opts: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/api/auxiliary-numbers',
    {
      config: { access: { callers: ['system', 'unit-registrar', 'registry-admin', 'platform-admin'] } },
      schema: {
        summary: 'A new auxiliary number for a patient whose identity is unknown',
        querystring: noQuery,
        body: noBody,
        response: { 201: z.object({ system: z.string(), value: z.string() }) },
      },
    },
    async (_req, reply) => {
      return reply.code(201).send({ system: AUX_SYSTEM, value: auxiliaryNumber() });
    },
  );
}
