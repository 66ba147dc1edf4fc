// Research extracts asked for in the web app: a researcher submits a request for an approved
// project and follows it; a registry admin sees the requests to their registry and approves (the
// extract is delivered, recorded and audited as any delivery) or rejects with a reason.
import type { FastifyInstance } from 'fastify';
import type { Caller } from '../../access/caller.ts';
import { callerLabel } from '../../access/caller.ts';
import type { RouteOptions } from './plugin.ts';
import { deliverExtract } from '../../research/extract.ts';
import { createRequest, decide, findRequest, listRequests, type RequestInput } from '../../research/requests.ts';
import type { Access } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const RESEARCHERS: Access = { callers: ['researcher'] };
const RESEARCH_OR_ADMIN: Access = { callers: ['researcher', 'registry-admin', 'platform-admin'] };
const ADMINS: Access = { callers: ['registry-admin', 'platform-admin'] };

export async function extractRequestRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const db = platform.db.pool;
  const registryOf = (id: string) => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}".`, { code: 'registry.unknown' });
    return r;
  };
  const grantIn = (c: Caller, registry: string, roles: string[]) =>
    c.kind === 'user' && c.grants.some((g) => (g.registry === registry || g.registry === '*') && roles.includes(g.role));
  const adminRegistries = (c: Caller) =>
    platform.registries.filter((r) => grantIn(c, r.id, ['registry-admin', 'platform-admin'])).map((r) => r.id);
  const requestFor = async (c: Caller, raw: string) => {
    const id = Number(raw);
    const found = Number.isSafeInteger(id) && id > 0 ? await findRequest(db, id) : null;
    // Someone else's request is as unknown as one that does not exist.
    if (!found || (found.requestedBy !== callerLabel(c) && !grantIn(c, found.registry, ['registry-admin', 'platform-admin']))) {
      throw new KvalregError('not-found', `No extract request ${raw}.`, { code: 'extract.notFound' });
    }
    return found;
  };

  app.post<{ Params: { id: string }; Body: RequestInput }>(
    '/api/registries/:id/extract-requests',
    { config: { access: RESEARCHERS } },
    async (req, reply) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      if (!grantIn(c, r.id, ['researcher']))
        throw new KvalregError('forbidden', `You are not a researcher in ${r.id}.`, { code: 'access.denied' });
      return reply
        .code(201)
        .send(await createRequest(db, r, req.body ?? {}, { label: callerLabel(c), name: c.kind === 'user' ? c.name : null }));
    },
  );

  app.get('/api/extract-requests', { config: { access: RESEARCH_OR_ADMIN } }, async (req) => {
    const c = req.caller!;
    const admin = adminRegistries(c);
    return admin.length ? listRequests(db, { registries: admin }) : listRequests(db, { requestedBy: callerLabel(c) });
  });

  app.get<{ Params: { requestId: string } }>('/api/extract-requests/:requestId', { config: { access: RESEARCH_OR_ADMIN } }, async (req) =>
    requestFor(req.caller!, req.params.requestId),
  );

  // The researcher withdraws a request not yet decided.
  app.post<{ Params: { requestId: string } }>(
    '/api/extract-requests/:requestId/withdraw',
    { config: { access: RESEARCHERS } },
    async (req) => {
      const found = await requestFor(req.caller!, req.params.requestId);
      if (found.requestedBy !== callerLabel(req.caller!))
        throw new KvalregError('forbidden', 'Only the researcher who asked can withdraw a request.', { code: 'access.denied' });
      return decide(db, found.id, { status: 'withdrawn', by: callerLabel(req.caller!) });
    },
  );

  // Body: {approve: true} or {approve: false, note: "why"}. Approving delivers the extract; its file comes back to the admin, who hands it over.
  app.post<{ Params: { requestId: string }; Body: { approve?: unknown; note?: unknown } }>(
    '/api/extract-requests/:requestId/decision',
    { config: { access: ADMINS } },
    async (req) => {
      const c = req.caller!;
      const found = await requestFor(c, req.params.requestId);
      if (!grantIn(c, found.registry, ['registry-admin', 'platform-admin']))
        throw new KvalregError('forbidden', 'Only an admin of the registry decides.', { code: 'access.denied' });
      if (found.status !== 'submitted')
        throw new KvalregError('conflict', `Request ${found.id} has already been decided.`, { code: 'conflict' });
      const note = typeof req.body?.note === 'string' ? req.body.note.trim().slice(0, 2000) : null;
      if (req.body?.approve !== true) {
        if (!note)
          throw new KvalregError('unprocessable', 'Say why the request is rejected (note).', {
            details: [{ variable: 'note', rule: 'required', message: 'a reason is required' }],
            code: 'form.notSaved',
          });
        return { request: await decide(db, found.id, { status: 'rejected', by: callerLabel(c), note }) };
      }
      const r = registryOf(found.registry);
      const user = c.kind === 'user' ? c.user : callerLabel(c);
      const delivery = await platform.data.transaction(
        c,
        'research-extract',
        (tx) => {
          tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']);
          return deliverExtract(tx, r, found.definition, platform.keys, user);
        },
        { client: req.ip },
      );
      return { request: await decide(db, found.id, { status: 'delivered', by: callerLabel(c), note, deliveryId: delivery.id }), delivery };
    },
  );
}
