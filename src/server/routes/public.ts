// Public pages' data (no login): the hospital list and the hospital profile. Aggregates only.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { datasetParam, langParam, noQuery } from '../schemas.ts';
import type { RouteOptions } from './plugin.ts';
import { hospitalProfile, hospitals } from '../../publish/profile.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function publicRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get('/api/public/hospitals', { config: { access: PUBLIC }, schema: { summary: 'The hospitals', querystring: noQuery } }, async () =>
    hospitals(platform.units),
  );

  app.get(
    '/api/public/hospitals/:resh',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'A hospital’s profile: its indicator results over the years (aggregates only)',
        params: z.object({ resh: z.string().describe('The hospital’s RESH id.') }),
        querystring: z.object({
          year: z
            .string()
            .regex(/^\d{4}$/, 'year must be a year like 2024.')
            .transform(Number)
            .optional(),
          years: z
            .string()
            .regex(/^\d{1,2}$/, 'years must be a whole number from 1 to 10.')
            .transform(Number)
            .refine((n) => n >= 1 && n <= 10, 'years must be a whole number from 1 to 10.')
            .optional(),
          dataset: datasetParam,
          lang: langParam,
        }),
      },
    },
    async (req) => {
      const unit = platform.units.get(req.params.resh);
      if (!unit || unit.level !== 'hospital')
        throw new KvalregError('not-found', `"${req.params.resh}" is not a hospital's RESH id; GET /api/public/hospitals lists them.`);
      const lastYear = Number(osloDate(new Date().toISOString()).slice(0, 4)) - 1;
      const year = req.query.year ?? lastYear;
      if (year < 1900 || year > lastYear + 1) throw new KvalregError('invalid', 'year must be a year like 2024.');
      const years = req.query.years ?? 3;
      const dataset = req.query.dataset ?? 'fresh';
      return hospitalProfile(platform.db.pool, platform.registries, platform.indicators, platform.units, {
        resh: unit.resh,
        year,
        years,
        dataset,
        lang: req.query.lang === 'en' ? 'en' : 'nb',
      });
    },
  );
}
