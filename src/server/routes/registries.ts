// The registries this platform keeps (public: their names and forms), and a unit's registrations
// per month (counts only).
import type { FastifyInstance } from 'fastify';
import { registrationSummary } from '../../records/summary.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC, READERS } from '../access-policy.ts';
import { registryIn } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

export async function registryRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string) => registryIn(platform, id);

  app.get('/api/registries', { config: { access: PUBLIC } }, async () =>
    platform.registries.map((r) => ({
      id: r.id,
      version: r.version,
      title: r.meta.title,
      forms: r.forms.map((f) => ({ id: f.id, title: f.title })),
    })),
  );

  // Registrations per month for a unit: cases, complete, finalised, forms by status (counts only).
  app.get<{ Params: { id: string }; Querystring: { unit?: string; year?: string } }>(
    '/api/registries/:id/registrations/summary',
    { config: { access: READERS } },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      const year = req.query.year ?? osloDate(new Date().toISOString()).slice(0, 4);
      if (!/^\d{4}$/.test(year)) throw new KvalregError('invalid', 'year must be a year like 2024.');
      if (req.query.unit !== undefined && !platform.units.has(req.query.unit))
        throw new KvalregError('invalid', `Unknown unit "${req.query.unit}": give the RESH id of a unit.`);
      return platform.data.transaction(c, 'registrations:summary', (tx) => registrationSummary(tx, r, { unit: req.query.unit, year }), {
        readOnly: true,
        client: req.ip,
      });
    },
  );
}
