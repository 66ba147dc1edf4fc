// Registration by hand: starting a case for a unit whose systems do not send (routed like a
// captured one), and adding an instance of a repeating form (an injury) to a case.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery, positiveId, registryParams } from '../schemas.ts';
import type { Caller } from '../../access/caller.ts';
import type { RouteOptions } from './plugin.ts';
import { addInstance, startManualCase, type ManualInput } from '../../records/manual.ts';
import { getCase } from '../../records/workflow.ts';
import type { Registry } from '../../registry/load.ts';
import { WRITERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function manualRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}".`, { code: 'registry.unknown' });
    return r;
  };
  const userOf = (c: Caller) => (c.kind === 'user' ? c.user : c.kind === 'system' ? c.sender : c.task);

  // Body: {nin, name?, unit, values: {variable: value, ...}} (the values of the forms every case has).
  const manualShape = 'Send {"nin": "...", "unit": "<RESH>", "values": {...}}.';
  app.post(
    '/api/registries/:id/manual-cases',
    {
      config: { access: WRITERS },
      schema: {
        summary: 'Start a case by hand, for a unit whose systems do not send',
        params: registryParams,
        querystring: noQuery,
        body: z.looseObject(
          {
            nin: z.unknown().optional().describe('The patient’s identity number (or an auxiliary number).'),
            name: z.unknown().optional(),
            unit: z.unknown().optional().describe('The RESH id of the unit.'),
            values: z.unknown().optional().describe('The values of the forms every case has: {variable: value, …}.'),
          },
          manualShape,
        ),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const c = req.caller!;
      const started = await platform.data.transaction(
        { kind: 'platform', task: 'manual-registration' },
        'case:manual',
        (tx) =>
          startManualCase(tx, c, r, req.body as ManualInput, platform.keys, userOf(c), {
            allowTestIdentities: platform.config.allowTestIdentities,
          }),
        { client: req.ip },
      );
      return reply.code(201).send(started);
    },
  );

  app.post(
    '/api/registries/:id/cases/:caseId/forms/:form/instances',
    {
      config: { access: WRITERS },
      schema: {
        summary: 'Add an instance of a repeating form (an injury) to a case',
        params: registryParams.extend({ caseId: positiveId('case'), form: z.string().min(1) }),
        querystring: noQuery,
        body: z.object({ values: z.record(z.string(), z.unknown()).optional() }).nullish(),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const caseId = req.params.caseId;
      const result = await platform.data.transaction(
        req.caller!,
        'case:add-form',
        async (tx) => {
          const instance = await addInstance(tx, r, caseId, req.params.form, req.body?.values ?? {}, userOf(req.caller!));
          return { ...(await getCase(tx, r, caseId)), instance };
        },
        { client: req.ip },
      );
      return reply.code(201).send(result);
    },
  );
}
