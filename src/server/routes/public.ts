// Public pages' data (no login): the hospital list and the hospital profile. Aggregates only.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from './plugin.ts';
import { hospitalProfile, hospitals } from '../../publish/profile.ts';
import { RecordError } from '../../records/workflow.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC } from '../access-policy.ts';

export async function publicRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.get('/api/public/hospitals', { config: { access: PUBLIC } }, async () => hospitals(platform.units));

  app.get<{ Params: { resh: string }; Querystring: Record<string, string | undefined> }>(
    '/api/public/hospitals/:resh',
    { config: { access: PUBLIC } },
    async (req) => {
      const unit = platform.units.get(req.params.resh);
      if (!unit || unit.level !== 'hospital')
        throw new RecordError(`"${req.params.resh}" is not a hospital's RESH id; GET /api/public/hospitals lists them.`, 404);
      const lastYear = Number(osloDate(new Date().toISOString()).slice(0, 4)) - 1;
      const year = req.query.year === undefined ? lastYear : Number(req.query.year);
      if (!Number.isInteger(year) || year < 1900 || year > lastYear + 1) throw new RecordError('year must be a year like 2024.', 400);
      const years = req.query.years === undefined ? 3 : Number(req.query.years);
      if (!Number.isInteger(years) || years < 1 || years > 10) throw new RecordError('years must be a whole number from 1 to 10.', 400);
      const dataset = req.query.dataset ?? 'fresh';
      if (dataset !== 'fresh' && dataset !== 'qa') throw new RecordError('dataset must be fresh or qa.', 400);
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
