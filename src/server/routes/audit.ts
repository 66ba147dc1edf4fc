// The audit API for registry admins: GET /api/audit (filters as query parameters) and
// POST /api/audit/search (the same filters in a JSON body, and the person by national identity
// number, which must never be put in a URL: URLs end up in logs). JSON pages by cursor, or the
// whole result streamed as NDJSON or CSV from a database cursor.
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

export async function auditRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
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
    const write = async (chunk: string) => {
      if (out.destroyed) throw new Error('the client went away');
      if (!out.write(chunk))
        await new Promise<void>((resolve) => {
          out.once('drain', resolve);
          out.once('close', resolve);
        });
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

  app.get<{ Querystring: Record<string, string> }>('/api/audit', { config: { access: ADMINS } }, async (req, reply) => {
    const filter = parseAuditFilter(req.query ?? {}, ['nin']);
    if ((req.query as Record<string, unknown>).nin !== undefined) {
      throw new KvalregError(
        'invalid',
        'Never put an identity number in a URL (URLs are logged). POST the filter to /api/audit/search with {"nin": "..."} instead.',
      );
    }
    return answer(req, reply, filter, formatOf(req, req.query.format));
  });

  app.post<{ Body: Record<string, unknown> | undefined }>('/api/audit/search', { config: { access: ADMINS } }, async (req, reply) => {
    const body = req.body ?? {};
    if (typeof body !== 'object' || Array.isArray(body))
      throw new KvalregError('invalid', 'Send the filter as a JSON object, e.g. {"nin": "...", "from": "2025-01-01"}.');
    const { nin, system, ...rest } = body as Record<string, unknown>;
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
  });
}
