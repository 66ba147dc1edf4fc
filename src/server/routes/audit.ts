// The audit API for registry admins: GET /api/audit (filters as query parameters) and
// POST /api/audit/search (the same filters in a JSON body, and the person by national identity
// number, which must never be put in a URL: URLs end up in logs). JSON pages by cursor, or the
// whole result streamed as NDJSON or CSV from a database cursor.
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { auditPage, parseAuditFilter, streamAudit, type AuditFilter } from '../../audit/query.ts';
import { identityFromIdentifier, NIN_SYSTEMS } from '../../capture/identity.ts';
import type { Issue } from '../../capture/outcome.ts';
import type { RouteOptions } from './plugin.ts';
import { ADMINS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

type Format = 'json' | 'ndjson' | 'csv';

function formatOf(req: FastifyRequest, asked: unknown): Format {
  if (asked !== undefined) {
    if (asked === 'json' || asked === 'ndjson' || asked === 'csv') return asked;
    throw new KvalregError('invalid', 'format must be json (paged), ndjson or csv (the whole result, streamed).');
  }
  const accept = String(req.headers.accept ?? '');
  return accept.includes('application/x-ndjson') ? 'ndjson' : accept.includes('text/csv') ? 'csv' : 'json';
}

class StreamStalled extends Error {
  constructor(ms: number) {
    super(`the client read nothing of the audit download for ${ms} ms; it was ended, so that it no longer holds a database connection`);
  }
}

export async function auditRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const answer = async (req: FastifyRequest, reply: FastifyReply, filter: AuditFilter, format: Format) => {
    const caller = req.caller!;
    if (format === 'json') {
      return platform.data.transaction(caller, 'audit:read', (tx) => auditPage(tx, filter, platform.units), {
        readOnly: true,
        client: req.ip,
      });
    }
    const out = new PassThrough();
    let started = false;
    const stallMs = platform.config.streamStallMs;
    // The stream reads the trail in a transaction, which holds a connection of the pool and a
    // snapshot: a client that stops reading (a dialog left open, a stalled pipe) must not hold them
    // for good. Waiting longer than KVALREG_STREAM_STALL_MS for it ends the download.
    const write = async (chunk: string) => {
      if (out.destroyed) throw new Error('the client went away');
      if (out.write(chunk)) return;
      const drained = await new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => {
          clearTimeout(timer);
          out.off('drain', read).off('close', read);
          resolve(ok);
        };
        const read = () => done(true);
        const timer = setTimeout(() => done(false), stallMs);
        out.once('drain', read).once('close', read);
      });
      if (!drained) {
        out.destroy();
        reply.raw.destroy();
        throw new StreamStalled(stallMs);
      }
    };
    return new Promise<FastifyReply>((resolve, reject) => {
      platform.data
        .transaction(
          caller,
          'audit:read',
          (tx) =>
            streamAudit(
              tx,
              filter,
              platform.units,
              format,
              () => {
                started = true;
                reply
                  .type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
                  .header('cache-control', 'no-store')
                  .send(out);
                resolve(reply);
              },
              write,
            ),
          { readOnly: true, client: req.ip },
        )
        .then(
          () => out.end(),
          (err) => {
            if (!started) return reject(err);
            if (err instanceof StreamStalled) return req.log.warn({ stallMs }, err.message);
            // Headers are gone: say so at the end of the stream, so a reader knows the result is cut short.
            req.log.error({ err }, 'streaming the audit trail failed');
            if (!out.destroyed)
              out.end(
                format === 'csv'
                  ? '# ERROR: the result was cut short by an internal error; ask again\n'
                  : `${JSON.stringify({ error: 'The result was cut short by an internal error; ask again.' })}\n`,
              );
          },
        );
    });
  };

  app.get(
    '/api/audit',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'The audit trail, filtered: JSON pages by cursor, or the whole result as NDJSON or CSV',
        // Loose: the filter names its unknown keys itself (audit/query.ts), which the answer lists.
        querystring: z.looseObject(FILTERS),
      },
    },
    async (req, reply) => {
      const filter = parseAuditFilter(req.query ?? {}, ['nin']);
      if ((req.query as Record<string, unknown>).nin !== undefined) {
        throw new KvalregError(
          'invalid',
          'Never put an identity number in a URL (URLs are logged). POST the filter to /api/audit/search with {"nin": "..."} instead.',
        );
      }
      return answer(req, reply, filter, formatOf(req, req.query.format));
    },
  );

  const asObject = 'Send the filter as a JSON object, e.g. {"nin": "...", "from": "2025-01-01"}.';
  app.post(
    '/api/audit/search',
    {
      config: { access: ADMINS },
      schema: {
        summary: 'The audit trail, filtered, with the person by identity number (never in a URL)',
        querystring: z.object({}),
        body: z
          .looseObject(
            {
              ...FILTERS,
              nin: z.unknown().optional().describe('The person’s national identity number (11 digits).'),
              system: z.unknown().optional().describe('The identifier system, for a D- or H-number.'),
            },
            asObject,
          )
          .nullish(),
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const { nin, system, ...rest } = body;
      const filter = parseAuditFilter(rest);
      if (nin !== undefined) {
        const issues: Issue[] = [];
        const identity = identityFromIdentifier(
          platform.keys,
          typeof system === 'string' ? system : Object.keys(NIN_SYSTEMS)[0],
          String(nin),
          'nin',
          issues,
          { allowTestIdentities: platform.config.allowTestIdentities },
        );
        if (!identity)
          throw new KvalregError(
            'unprocessable',
            `nin: ${issues.map((i) => i.diagnostics).join('; ') || 'give the 11-digit national identity number (and "system" for a D- or H-number)'}.`,
          );
        filter.personHash = identity.hash;
      }
      return answer(req, reply, filter, formatOf(req, rest.format));
    },
  );
}

/** The audit filters (audit/query.ts), as text: the filter checks and converts them. */
function filter(meaning: string) {
  return z.union([z.string(), z.number()]).optional().describe(meaning);
}
const FILTERS = {
  actor: filter('Who acted.'),
  personId: filter('The person concerned (the platform’s id).'),
  unit: filter('The RESH id of a unit.'),
  subUnits: filter('true: the unit and the units under it.'),
  registry: filter('The registry.'),
  action: filter('read, write, export, …'),
  outcome: filter('ok or denied.'),
  from: filter('From a date (2025-01-31) or a time with its offset.'),
  to: filter('To a date or a time with its offset.'),
  after: filter('The cursor of the next page.'),
  limit: filter('Events per page.'),
  format: filter('json (paged, the default), ndjson or csv (the whole result, streamed).'),
};
