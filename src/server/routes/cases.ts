// A registry's cases: the plain worklist, a case and its history, and filling in, finalising,
// reopening and deleting its forms (records/workflow.ts). A changed date may move the case to
// another event (records/events.ts).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noBody, noQuery, pageParam, positiveId, registryParams } from '../schemas.ts';
import { reassessEvents } from '../../records/events.ts';
import { changeStatus, completeForm, deleteForm, getCase, history, worklist } from '../../records/workflow.ts';
import { READERS, WRITERS } from '../access-policy.ts';
import { instanceOf, registryIn, userOf, type FormParams } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

const caseParams = registryParams.extend({ caseId: positiveId('case') });
const formParams = caseParams.extend({
  form: z.string().min(1).describe('The form’s id.'),
  instance: z.string().optional().describe('The instance of a repeating form.'),
});
const valuesBody = z.object(
  { values: z.record(z.string(), z.unknown(), 'Send {"values": {"variable": value, ...}} with the variables to set.') },
  'Send {"values": {"variable": value, ...}} with the variables to set.',
);
/** The form instance in the path ('' for a form with one instance per case). */
const instance = (p: { instance?: string }) => instanceOf(p as FormParams);

export async function caseRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const registryOf = (id: string) => registryIn(platform, id);

  app.get(
    '/api/registries/:id/worklist',
    {
      config: { access: READERS },
      schema: {
        summary: 'The plain worklist of cases',
        params: registryParams,
        querystring: z.object({ unit: z.string().optional(), limit: pageParam('limit'), offset: pageParam('offset') }),
      },
    },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(
        c,
        'worklist',
        (tx) =>
          worklist(tx, r, {
            unit: req.query.unit,
            limit: req.query.limit ?? 100,
            offset: req.query.offset ?? 0,
          }),
        { readOnly: true, client: req.ip },
      );
    },
  );

  app.get(
    '/api/registries/:id/cases/:caseId',
    { config: { access: READERS }, schema: { summary: 'A case with its forms', params: caseParams, querystring: noQuery } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(c, 'case:read', (tx) => getCase(tx, r, req.params.caseId), {
        readOnly: true,
        client: req.ip,
      });
    },
  );

  app.get(
    '/api/registries/:id/cases/:caseId/history',
    { config: { access: READERS }, schema: { summary: 'A case’s history of changes', params: caseParams, querystring: noQuery } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(c, 'case:history', (tx) => history(tx, r, req.params.caseId), {
        readOnly: true,
        client: req.ip,
      });
    },
  );
  for (const suffix of ['', '/:instance']) {
    app.patch(
      `/api/registries/:id/cases/:caseId/forms/:form${suffix}`,
      {
        config: { access: WRITERS },
        schema: { summary: 'Set variables of a form', params: formParams, querystring: noQuery, body: valuesBody },
      },
      async (req) => {
        const c = req.caller!;
        const r = registryOf(req.params.id);
        const values = req.body.values;
        const caseId = req.params.caseId;
        const result = await platform.data.transaction(
          c,
          'case:complete',
          (tx) => completeForm(tx, r, caseId, req.params.form, instance(req.params), values, userOf(c)),
          { client: req.ip },
        );
        // A changed start date or time may move the case to another event (see records/events.ts).
        const event = await reassessEvents(platform.data, platform.keys, r, caseId);
        return event && result.event ? { ...result, event: { ...result.event, ...event } } : result;
      },
    );
    for (const action of ['finalise', 'reopen'] as const) {
      app.post(
        `/api/registries/:id/cases/:caseId/forms/:form${suffix}/${action}`,
        {
          config: { access: WRITERS },
          schema: {
            summary: `${action === 'finalise' ? 'Finalise' : 'Reopen'} a form`,
            params: formParams,
            querystring: noQuery,
            body: noBody,
          },
        },
        async (req) => {
          const c = req.caller!;
          const r = registryOf(req.params.id);
          return platform.data.transaction(
            c,
            `case:${action}`,
            (tx) => changeStatus(tx, r, req.params.caseId, req.params.form, instance(req.params), action, userOf(c)),
            { client: req.ip },
          );
        },
      );
    }
  }
  app.delete(
    '/api/registries/:id/cases/:caseId/forms/:form/:instance',
    {
      config: { access: WRITERS },
      schema: { summary: 'Delete an instance of a repeating form', params: formParams.required({ instance: true }), querystring: noQuery },
    },
    async (req, reply) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      await platform.data.transaction(
        c,
        'case:delete-form',
        (tx) => deleteForm(tx, r, req.params.caseId, req.params.form, instance(req.params), userOf(c)),
        { client: req.ip },
      );
      return reply.code(204).send();
    },
  );
}
