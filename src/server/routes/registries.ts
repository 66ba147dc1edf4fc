// The registries this platform keeps (public: their names and forms), and a unit's registrations
// per month (counts only).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery, registryParams, yearParam } from '../schemas.ts';
import { registrationSummary } from '../../records/summary.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC, READERS } from '../access-policy.ts';
import { registryIn } from '../route-params.ts';
import type { RouteOptions } from './plugin.ts';
import { KvalregError } from '../../errors.ts';

const registryList = z.array(
  z.object({
    id: z.string(),
    version: z.string(),
    title: z.unknown().describe('The title, by language.'),
    forms: z.array(z.object({ id: z.string(), title: z.unknown() })),
  }),
);

export async function registryRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const registryOf = (id: string) => registryIn(platform, id);

  app.get(
    '/api/registries',
    {
      config: { access: PUBLIC },
      schema: { summary: 'The registries and their forms', querystring: noQuery, response: { 200: registryList } },
    },
    async () =>
      platform.registries.map((r) => ({
        id: r.id,
        version: r.version,
        title: r.meta.title,
        forms: r.forms.map((f) => ({ id: f.id, title: f.title })),
      })),
  );

  // Registrations per month for a unit: cases, complete, finalised, forms by status (counts only).
  app.get(
    '/api/registries/:id/registrations/summary',
    {
      config: { access: READERS },
      schema: {
        summary: 'Registrations per month for a unit (counts only)',
        params: registryParams,
        querystring: z.object({ unit: z.string().optional().describe('The RESH id of a unit.'), year: yearParam }),
      },
    },
    async (req) => {
      const c = req.caller!;
      const r = registryOf(req.params.id);
      const year = req.query.year ?? osloDate(new Date().toISOString()).slice(0, 4);
      if (req.query.unit !== undefined && !platform.units.has(req.query.unit))
        throw new KvalregError('invalid', `Unknown unit "${req.query.unit}": give the RESH id of a unit.`);
      return platform.data.transaction(c, 'registrations:summary', (tx) => registrationSummary(tx, r, { unit: req.query.unit, year }), {
        readOnly: true,
        client: req.ip,
      });
    },
  );
}
