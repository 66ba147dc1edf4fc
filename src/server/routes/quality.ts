// Data quality over HTTP: the report per registry, unit and year (aggregates, for the registry's
// users), the cases behind a finding (person-level: through the door, within the caller's units,
// audited, paged), and the follow-up of findings.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Platform } from '../../platform.ts';
import { FOLLOW_UP_STATUSES, QualityError, type FollowUpStatus } from '../../quality/service.ts';
import { RecordError } from '../../records/workflow.ts';
import { osloDate } from '../../time/oslo.ts';
import { READERS, WRITERS } from '../access-policy.ts';

type Q = Record<string, string | undefined>;

export function qualityRoutes(app: FastifyInstance, platform: Platform): void {
  const registryOf = (id: string) => {
    const r = platform.registry(id);
    if (!r) throw new RecordError(`Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`, 404);
    return r;
  };
  const nation = () => platform.units.all().find((u) => u.level === 'nation')?.resh ?? '1';
  const yearOf = (raw: string | undefined) => {
    const year = raw === undefined ? Number(osloDate(new Date().toISOString()).slice(0, 4)) : Number(raw);
    if (!Number.isInteger(year) || year < 1900 || year > 2999) throw new RecordError('year must be a year like 2024.', 400);
    return year;
  };
  const datasetOf = (raw: string | undefined) => {
    const d = raw ?? 'fresh';
    if (d !== 'fresh' && d !== 'qa') throw new RecordError('dataset must be fresh or qa.', 400);
    return d;
  };
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try { return await fn(); } catch (err) {
      if (err instanceof QualityError) throw new RecordError(err.message, err.httpStatus);
      throw err;
    }
  };

  app.get<{ Params: { id: string }; Querystring: Q }>('/api/registries/:id/quality', { config: { access: READERS } }, async (req) => wrap(async () => {
    const r = registryOf(req.params.id);
    return platform.quality.report(req.caller!, r, { unit: req.query.unit ?? nation(), year: yearOf(req.query.year), dataset: datasetOf(req.query.dataset) });
  }));

  app.get<{ Params: { id: string }; Querystring: Q }>('/api/registries/:id/quality/thresholds', { config: { access: READERS } }, async (req) => wrap(async () => {
    const r = registryOf(req.params.id);
    if (!platform.quality.has(r.id)) throw new QualityError(`The ${r.id} registry declares no data quality.`, 404);
    return { registry: r.id, thresholds: platform.quality.thresholds(r), file: `registries/${r.id}/quality-thresholds.yaml` };
  }));

  app.get<{ Params: { id: string }; Querystring: Q }>('/api/registries/:id/quality/cases', { config: { access: READERS } }, async (req, reply) => wrap(async () => {
    const r = registryOf(req.params.id);
    if (!req.query.finding) throw new RecordError('Give finding= (the key of a check, e.g. completeness/injury_energy), unit= and year=.', 400);
    const after = req.query.after === undefined ? 0 : Number(req.query.after);
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isSafeInteger(after) || after < 0) throw new RecordError('after must be a case id (a whole number of 0 or more).', 400);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) throw new RecordError('limit must be a whole number from 1 to 1000 per page; follow "next" for the rest.', 400);
    const page = await platform.quality.cases(req.caller!, r, { finding: req.query.finding, unit: req.query.unit ?? nation(), year: yearOf(req.query.year), after, limit, dataset: datasetOf(req.query.dataset), client: req.ip });
    reply.header('cache-control', 'no-store');
    return page;
  }));

  app.post<{ Params: { id: string }; Body: { finding?: string; unit?: string; year?: number | string; status?: string; note?: string } }>('/api/registries/:id/quality/follow-up', { config: { access: WRITERS } }, async (req: FastifyRequest<{ Params: { id: string }; Body: { finding?: string; unit?: string; year?: number | string; status?: string; note?: string } }>, reply) => wrap(async () => {
    const r = registryOf(req.params.id);
    const b = req.body ?? {};
    if (!b.finding || !b.unit || b.year === undefined || !b.status) throw new RecordError(`Send {"finding", "unit", "year", "status" (${FOLLOW_UP_STATUSES.join(', ')}), "note"}.`, 400);
    const history = await platform.quality.followUp(req.caller!, r, { finding: String(b.finding), unit: String(b.unit), year: yearOf(String(b.year)), status: b.status as FollowUpStatus, note: String(b.note ?? '') });
    return reply.code(201).send({ finding: b.finding, unit: b.unit, year: Number(b.year), status: history[history.length - 1]?.status, history });
  }));
}
