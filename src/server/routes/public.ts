// Public pages' data (no login): the hospital list and the hospital profile. Aggregates only.
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from './plugin.ts';
import { hospitalProfile, hospitals } from '../../publish/profile.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function publicRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  app.get('/api/public/hospitals', { config: { access: PUBLIC } }, async () => hospitals(platform.units));

  app.get<{ Params: { resh: string }; Querystring: Record<string, string | undefined> }>(
    '/api/public/hospitals/:resh',
    { config: { access: PUBLIC } },
    async (req) => {
      const unit = platform.units.get(req.params.resh);
      if (!unit || unit.level !== 'hospital')
        throw new KvalregError('not-found', `"${req.params.resh}" is not a hospital's RESH id; GET /api/public/hospitals lists them.`);
      const lastYear = Number(osloDate(new Date().toISOString()).slice(0, 4)) - 1;
      const year = req.query.year === undefined ? lastYear : Number(req.query.year);
      if (!Number.isInteger(year) || year < 1900 || year > lastYear + 1)
        throw new KvalregError('invalid', 'year must be a year like 2024.');
      const years = req.query.years === undefined ? 3 : Number(req.query.years);
      if (!Number.isInteger(years) || years < 1 || years > 10)
        throw new KvalregError('invalid', 'years must be a whole number from 1 to 10.');
      const dataset = req.query.dataset ?? 'fresh';
      if (dataset !== 'fresh' && dataset !== 'qa') throw new KvalregError('invalid', 'dataset must be fresh or qa.');
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
