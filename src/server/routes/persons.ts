// POST /api/persons/merge: a registry admin joins a patient registered under a temporary number
// (an FH-number, a local H-number, an auxiliary number) with the same patient's real number, when
// the identity was resolved outside the sending systems (records/persons.ts). Numbers travel in
// the body, never in the URL (URLs end up in logs). Like reservations, it concerns every registry:
// only an admin of every registry may do it. Audited (action "merge", both person ids).
import type { FastifyInstance } from 'fastify';
import { AccessDenied } from '../../access/door.ts';
import { callerLabel, type Caller } from '../../access/caller.ts';
import { identityFromFhirIdentifier, type Identity } from '../../capture/identity.ts';
import type { Issue } from '../../capture/outcome.ts';
import type { RouteOptions } from './plugin.ts';
import { mergeByNumbers } from '../../records/persons.ts';
import { ADMINS } from '../access-policy.ts';
import { KvalregError, kindOfStatus } from '../../errors.ts';

interface MergeBody {
  from?: unknown;
  into?: unknown;
}

const SHAPE =
  'Send {"from": <identifier>, "into": <identifier>}, each a FHIR Identifier: {"system": "urn:oid:2.16.578.1.12.4.1.4.3", "value": "<FH-number>"}; a local H-number with "type" HNR and "assigner".';

export async function personRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.post<{ Body: MergeBody }>('/api/persons/merge', { config: { access: ADMINS } }, async (req) => {
    const c = req.caller!;
    const body = req.body;
    const ctx = { keys: platform.keys, registries: platform.registries };
    const result = await platform.data.transaction(
      c,
      'person:merge',
      async (tx) => {
        // Inside the door, so that a refused attempt is in the audit trail.
        requireAllRegistries(c);
        if (!body || typeof body !== 'object' || typeof body.from !== 'object' || typeof body.into !== 'object' || !body.from || !body.into)
          throw new KvalregError('invalid', SHAPE);
        const issues: Issue[] = [];
        // Merging means the numbers are real patients' numbers: the deployment's rule for test numbers applies.
        const opts = { allowTestIdentities: platform.config.allowTestIdentities };
        const from = identityFromFhirIdentifier(platform.keys, body.from, 'from', issues, opts);
        const into = identityFromFhirIdentifier(platform.keys, body.into, 'into', issues, opts);
        if (!from || !into)
          throw new KvalregError(
            'unprocessable',
            `Cannot merge: ${issues.map((i) => `${i.location}: ${i.diagnostics}`).join('; ') || SHAPE}`,
            { details: issues.map((i) => ({ location: i.location, rule: i.rule })) },
          );
        if (from.hashHex === into.hashHex) throw new KvalregError('conflict', '"from" and "into" are the same number; nothing to merge.');
        return mergeByNumbers(tx, ctx, from as Identity, into as Identity, { label: callerLabel(c), role: roleOf(c), source: 'registry' });
      },
      { client: req.ip },
    );
    if ('error' in result) throw new KvalregError(kindOfStatus(result.error === 'not-found' ? 404 : 409), result.message);
    return { merged: true, fromPerson: result.fromId, intoPerson: result.intoId, movedCases: result.movedCases, reserved: result.reserved };
  });
}

function roleOf(c: Caller): string {
  return c.kind === 'user' ? [...new Set(c.grants.map((g) => g.role))].join(',') : c.kind;
}

/** Joining persons spans every registry (as reservations and raw messages do): an admin of all ("*"). */
function requireAllRegistries(c: Caller): void {
  if (c.kind === 'user' && c.grants.some((g) => g.registry === '*' && (g.role === 'registry-admin' || g.role === 'platform-admin'))) return;
  throw new AccessDenied(
    'Joining two persons concerns every registry: it needs an admin role for all registries ("*").',
    null,
    'person:merge',
  );
}
