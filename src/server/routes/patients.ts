// Who a case is about: the case header (for one case), revealing the name and identity number on
// request (audited), finding a patient by identity number within the caller's units (audited), the
// patient's cases in every registry the caller may see, and each field's history on the case page.
import type { FastifyInstance } from 'fastify';
import type { Caller } from '../../access/caller.ts';
import { AUX_SYSTEM, identityFromIdentifier, NIN_SYSTEMS } from '../../capture/identity.ts';
import type { Issue } from '../../capture/outcome.ts';
import type { RouteOptions } from './plugin.ts';
import { caseHeaders, revealIdentity } from '../../records/case-header.ts';
import { fieldHistory } from '../../records/field-history.ts';
import { patientView, personByHash } from '../../records/patients.ts';
import { getCase } from '../../records/workflow.ts';
import type { Registry } from '../../registry/load.ts';
import { READERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function patientRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string): Registry => {
    const r = platform.registry(id);
    if (!r)
      throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`, {
        code: 'registry.unknown',
      });
    return r;
  };
  const unitName = (resh: string) => {
    const u = platform.units.get(resh);
    if (!u) return null;
    const h = u.level === 'department' ? platform.units.ancestorAt(resh, 'hospital') : null;
    const own = { nb: u.nameNb, en: u.nameEn ?? u.nameNb };
    return h ? { nb: `${h.short ?? h.nameNb}, ${own.nb}`, en: `${h.short ?? h.nameEn ?? h.nameNb}, ${own.en}` } : own;
  };
  /** The registries the caller holds a reading role in. */
  const readable = (c: Caller) =>
    c.kind !== 'user'
      ? []
      : platform.registries.filter((r) =>
          c.grants.some(
            (g) =>
              (g.registry === r.id || g.registry === '*') &&
              ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'].includes(g.role),
          ),
        );

  app.get<{ Params: { id: string; caseId: string } }>(
    '/api/registries/:id/cases/:caseId/header',
    { config: { access: READERS } },
    async (req) => {
      const r = registryOf(req.params.id);
      const caseId = positiveId(req.params.caseId);
      return platform.data.transaction(
        req.caller!,
        'case:read',
        async (tx) => {
          await getCase(tx, r, caseId); // the access check (403 or 404) and the audited read
          return (await caseHeaders(tx, r, [caseId], platform.keys, { unitName })).get(caseId)!;
        },
        { readOnly: true, client: req.ip },
      );
    },
  );

  app.post<{ Params: { id: string; caseId: string } }>(
    '/api/registries/:id/cases/:caseId/identity',
    { config: { access: READERS } },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const shown = await platform.data.transaction(
        req.caller!,
        'case:reveal',
        (tx) => revealIdentity(tx, r, positiveId(req.params.caseId), platform.keys),
        { readOnly: true, client: req.ip },
      );
      return reply.header('cache-control', 'no-store').send(shown);
    },
  );

  app.get<{ Params: { id: string; caseId: string } }>(
    '/api/registries/:id/cases/:caseId/field-history',
    { config: { access: READERS } },
    async (req) => {
      const r = registryOf(req.params.id);
      return platform.data.transaction(req.caller!, 'case:history', (tx) => fieldHistory(tx, r, positiveId(req.params.caseId)), {
        readOnly: true,
        client: req.ip,
      });
    },
  );

  // The number in the body, never in a URL (URLs are logged).
  app.post<{ Body: { nin?: unknown } }>('/api/patients/search', { config: { access: READERS } }, async (req, reply) => {
    const raw = String(req.body?.nin ?? '').replace(/[\s.-]/g, '');
    const issues: Issue[] = [];
    const opts = { allowTestIdentities: platform.config.allowTestIdentities };
    const system = raw.startsWith('AUX-')
      ? AUX_SYSTEM
      : Object.keys(NIN_SYSTEMS).find((s) => identityFromIdentifier(platform.keys, s, raw, 'nin', [], opts) !== undefined);
    const identity = system ? identityFromIdentifier(platform.keys, system, raw, 'nin', issues, opts) : undefined;
    if (!identity)
      throw new KvalregError(
        'invalid',
        'Give {"nin": "<fødselsnummer, D-number or H-number>"}: the number given is not a valid identity number.',
        { code: 'nin.invalid' },
      );
    const view = await platform.data.transaction(
      req.caller!,
      'patient:search',
      async (tx) => {
        const personId = await personByHash(tx, identity.hash);
        return personId === null ? null : patientView(tx, readable(req.caller!), personId, platform.keys, { unitName, purpose: 'search' });
      },
      { readOnly: true, client: req.ip },
    );
    if (!view)
      throw new KvalregError('not-found', 'No registrations of this person at the units you have access to.', { code: 'patient.notFound' });
    return reply.header('cache-control', 'no-store').send(view);
  });

  app.get<{ Params: { personId: string } }>('/api/patients/:personId', { config: { access: READERS } }, async (req, reply) => {
    const personId = positiveId(req.params.personId);
    const view = await platform.data.transaction(
      req.caller!,
      'patient:read',
      (tx) => patientView(tx, readable(req.caller!), personId, platform.keys, { unitName, purpose: 'read' }),
      { readOnly: true, client: req.ip },
    );
    if (!view)
      throw new KvalregError('not-found', 'No registrations of this person at the units you have access to.', { code: 'patient.notFound' });
    return reply.header('cache-control', 'no-store').send(view);
  });
}

function positiveId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new KvalregError('invalid', `"${raw}" is not an id: ids are positive whole numbers.`, { code: 'request.invalid' });
  return id;
}
