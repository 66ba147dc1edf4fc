// A registry's cases: the plain worklist, a case and its history, and filling in, finalising,
// reopening and deleting its forms (records/workflow.ts). A changed date may move the case to
// another event (records/events.ts).
import type { FastifyInstance } from 'fastify';
import { reassessEvents } from '../../records/events.ts';
import { changeStatus, completeForm, deleteForm, getCase, history, worklist } from '../../records/workflow.ts';
import { READERS, WRITERS } from '../access-policy.ts';
import { instanceOf, pageParam, positiveId, registryIn, userOf, type FormParams } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function caseRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string) => registryIn(platform, id);

  app.get<{ Params: { id: string }; Querystring: { unit?: string; limit?: string; offset?: string } }>(
    '/api/registries/:id/worklist',
    { config: { access: READERS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(
        c,
        'worklist',
        (tx) =>
          worklist(tx, r, {
            unit: req.query.unit,
            limit: pageParam(req.query.limit, 'limit', 100),
            offset: pageParam(req.query.offset, 'offset', 0),
          }),
        { readOnly: true, client: req.ip },
      );
    },
  );

  app.get<{ Params: { id: string; caseId: string } }>('/api/registries/:id/cases/:caseId', { config: { access: READERS } }, async (req) => {
    const c = req.caller!;
    const r = registryOf(req.params.id);
    return platform.data.transaction(c, 'case:read', (tx) => getCase(tx, r, positiveId(req.params.caseId, 'case')), {
      readOnly: true,
      client: req.ip,
    });
  });

  app.get<{ Params: { id: string; caseId: string } }>(
    '/api/registries/:id/cases/:caseId/history',
    { config: { access: READERS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      return platform.data.transaction(c, 'case:history', (tx) => history(tx, r, positiveId(req.params.caseId, 'case')), {
        readOnly: true,
        client: req.ip,
      });
    },
  );
  for (const suffix of ['', '/:instance']) {
    app.patch<{ Params: FormParams; Body: { values?: Record<string, unknown> } }>(
      `/api/registries/:id/cases/:caseId/forms/:form${suffix}`,
      { config: { access: WRITERS } },
      async (req) => {
        const c = req.caller!;
        const r = registryOf(req.params.id);
        const values = req.body?.values;
        if (!values || typeof values !== 'object')
          throw new KvalregError('invalid', 'Send {"values": {"variable": value, ...}} with the variables to set.');
        const caseId = positiveId(req.params.caseId, 'case');
        const result = await platform.data.transaction(
          c,
          'case:complete',
          (tx) => completeForm(tx, r, caseId, req.params.form, instanceOf(req.params), values, userOf(c)),
          { client: req.ip },
        );
        // A changed start date or time may move the case to another event (see records/events.ts).
        const event = await reassessEvents(platform.data, platform.keys, r, caseId);
        return event && result.event ? { ...result, event: { ...result.event, ...event } } : result;
      },
    );
    for (const action of ['finalise', 'reopen'] as const) {
      app.post<{ Params: FormParams }>(
        `/api/registries/:id/cases/:caseId/forms/:form${suffix}/${action}`,
        { config: { access: WRITERS } },
        async (req) => {
          const c = req.caller!;
          const r = registryOf(req.params.id);
          return platform.data.transaction(
            c,
            `case:${action}`,
            (tx) => changeStatus(tx, r, positiveId(req.params.caseId, 'case'), req.params.form, instanceOf(req.params), action, userOf(c)),
            { client: req.ip },
          );
        },
      );
    }
  }
  app.delete<{ Params: FormParams }>(
    '/api/registries/:id/cases/:caseId/forms/:form/:instance',
    { config: { access: WRITERS } },
    async (req, reply) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      await platform.data.transaction(
        c,
        'case:delete-form',
        (tx) => deleteForm(tx, r, positiveId(req.params.caseId, 'case'), req.params.form, instanceOf(req.params), userOf(c)),
        { client: req.ip },
      );
      return reply.code(204).send();
    },
  );
}
