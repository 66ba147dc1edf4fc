// The screening worklist: a registrar posts the hospital's admissions (CSV) and gets, for every
// admission, the step that kept or dropped it and why; identity numbers only on kept admissions.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from './plugin.ts';
import { outcomesCsv, ScreeningError } from '../../screening/run.ts';
import { runScreening, SCREENING_ROLES } from '../../screening/service.ts';
import type { Access } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const SCREENERS: Access = { callers: [...SCREENING_ROLES] };

export async function screeningRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.post<{ Params: { id: string }; Querystring: { format?: string; lang?: string } }>(
    '/api/registries/:id/screening',
    { config: { access: SCREENERS } },
    async (req, reply) => {
      const r = platform.registry(req.params.id);
      if (!r)
        throw new KvalregError(
          'not-found',
          `Unknown registry "${req.params.id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`,
        );
      if (!r.screening) throw new KvalregError('not-found', `The ${r.id} registry has no screening worklist.`);
      const format = req.query.format ?? 'json';
      if (format !== 'json' && format !== 'csv') throw new KvalregError('invalid', 'format must be json or csv.');
      if (typeof req.body !== 'string' || req.body.trim() === '')
        throw new KvalregError(
          'invalid',
          "Send the admissions as CSV (Content-Type: text/csv) with a header row: admission_id, national_id, admission_date, department_kind, outpatient, codes and the registry's flag columns.",
        );
      const csv = req.body;
      const result = await platform.data
        .transaction(
          req.caller!,
          'screening',
          (tx) => runScreening(tx, r, csv, platform.keys, { allowTestIdentities: platform.config.allowTestIdentities }),
          { client: req.ip },
        )
        .catch((err) => {
          throw err instanceof ScreeningError ? new KvalregError('unprocessable', `Cannot screen: ${err.message}`) : err;
        });
      reply.header('cache-control', 'no-store');
      if (format === 'csv') return reply.type('text/csv; charset=utf-8').send(outcomesCsv(result, req.query.lang === 'en' ? 'en' : 'nb'));
      return { registry: r.id, ...result };
    },
  );
}
