// Registration by hand: starting a case for a unit whose systems do not send (routed like a
// captured one), and adding an instance of a repeating form (an injury) to a case.
import type { FastifyInstance } from 'fastify';
import type { Caller } from '../../access/caller.ts';
import type { RouteOptions } from './plugin.ts';
import { addInstance, startManualCase, type ManualInput } from '../../records/manual.ts';
import { getCase } from '../../records/workflow.ts';
import type { Registry } from '../../registry/load.ts';
import { WRITERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function manualRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}".`, { code: 'registry.unknown' });
    return r;
  };
  const userOf = (c: Caller) => (c.kind === 'user' ? c.user : c.kind === 'system' ? c.sender : c.task);

  // Body: {nin, name?, unit, values: {variable: value, ...}} (the values of the forms every case has).
  app.post<{ Params: { id: string }; Body: ManualInput }>(
    '/api/registries/:id/manual-cases',
    { config: { access: WRITERS } },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const c = req.caller!;
      if (!req.body || typeof req.body !== 'object')
        throw new KvalregError('invalid', 'Send {"nin": "...", "unit": "<RESH>", "values": {...}}.', { code: 'request.invalid' });
      const started = await platform.data.transaction(
        { kind: 'platform', task: 'manual-registration' },
        'case:manual',
        (tx) => startManualCase(tx, c, r, req.body, platform.keys, userOf(c), { allowTestIdentities: platform.config.allowTestIdentities }),
        { client: req.ip },
      );
      return reply.code(201).send(started);
    },
  );

  app.post<{ Params: { id: string; caseId: string; form: string }; Body: { values?: Record<string, unknown> } }>(
    '/api/registries/:id/cases/:caseId/forms/:form/instances',
    { config: { access: WRITERS } },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const caseId = Number(req.params.caseId);
      if (!Number.isSafeInteger(caseId) || caseId <= 0)
        throw new KvalregError('invalid', `"${req.params.caseId}" is not a case id.`, { code: 'request.invalid' });
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
