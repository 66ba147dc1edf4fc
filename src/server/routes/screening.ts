// The screening worklist: a registrar posts the hospital's admissions (CSV) and gets, for every
// admission, the step that kept or dropped it and why; identity numbers only on kept admissions.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { langParam, oneOf, registryParams } from '../schemas.ts';
import type { RouteOptions } from './plugin.ts';
import { outcomesCsv, ScreeningError } from '../../screening/run.ts';
import { runScreening, SCREENING_ROLES } from '../../screening/service.ts';
import type { Access } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const SCREENERS: Access = { callers: [...SCREENING_ROLES] };

export async function screeningRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const admissions =
    "Send the admissions as CSV (Content-Type: text/csv) with a header row: admission_id, national_id, admission_date, department_kind, outpatient, codes and the registry's flag columns.";
  app.post(
    '/api/registries/:id/screening',
    {
      config: { access: SCREENERS },
      schema: {
        summary: 'Screen the hospital’s admissions (CSV) for the registry',
        consumes: ['text/csv'],
        params: registryParams,
        querystring: z.object({ format: oneOf('format', ['json', 'csv']).optional(), lang: langParam }),
        body: z.string(admissions).refine((csv) => csv.trim() !== '', admissions),
      },
    },
    async (req, reply) => {
      const r = platform.registry(req.params.id);
      if (!r)
        throw new KvalregError(
          'not-found',
          `Unknown registry "${req.params.id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`,
        );
      if (!r.screening) throw new KvalregError('not-found', `The ${r.id} registry has no screening worklist.`);
      const format = req.query.format ?? 'json';
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
