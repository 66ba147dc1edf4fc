// Data quality over HTTP: the report per registry, unit and year (aggregates, for the registry's
// users), the cases behind a finding (person-level: through the door, within the caller's units,
// audited, paged), and the follow-up of findings.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { looseQuery, noBody, looseBody } from '../schemas.ts';
import type { RouteOptions } from './plugin.ts';
import { FOLLOW_UP_STATUSES, QualityError, type FollowUpStatus } from '../../quality/service.ts';
import { abstractCase, agreement, createStudy, sampleFor, validationDataset, type StudyDef } from '../../quality/validation.ts';
import { callerLabel } from '../../access/caller.ts';
import { osloDate } from '../../time/oslo.ts';
import { ADMINS, PUBLIC, READERS, WRITERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

type Q = Record<string, string | undefined>;

export async function qualityRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string) => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`);
    return r;
  };
  const nation = () => platform.units.all().find((u) => u.level === 'nation')?.resh ?? '1';
  const yearOf = (raw: string | undefined) => {
    const year = raw === undefined ? Number(osloDate(new Date().toISOString()).slice(0, 4)) : Number(raw);
    if (!Number.isInteger(year) || year < 1900 || year > 2999) throw new KvalregError('invalid', 'year must be a year like 2024.');
    return year;
  };
  const datasetOf = (raw: string | undefined) => {
    const d = raw ?? 'fresh';
    if (d !== 'fresh' && d !== 'qa') throw new KvalregError('invalid', 'dataset must be fresh or qa.');
    return d;
  };

  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/quality',
    {
      config: { access: READERS },
      schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ dataset: '', unit: '', year: '' }) },
    },
    async (req) => {
      const r = registryOf(req.params.id);
      return platform.quality.report(req.caller!, r, {
        unit: req.query.unit ?? nation(),
        year: yearOf(req.query.year),
        dataset: datasetOf(req.query.dataset),
      });
    },
  );

  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/quality/thresholds',
    { config: { access: READERS }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({}) } },
    async (req) => {
      const r = registryOf(req.params.id);
      if (!platform.quality.has(r.id)) throw new QualityError(`The ${r.id} registry declares no data quality.`, 404);
      return { registry: r.id, thresholds: platform.quality.thresholds(r), file: `registries/${r.id}/quality-thresholds.yaml` };
    },
  );

  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/quality/cases',
    {
      config: { access: READERS },
      schema: {
        params: z.object({ id: z.string() }),
        querystring: looseQuery({ after: '', dataset: '', finding: '', limit: '', unit: '', year: '' }),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      if (!req.query.finding)
        throw new KvalregError('invalid', 'Give finding= (the key of a check, e.g. completeness/injury_energy), unit= and year=.');
      const after = req.query.after === undefined ? 0 : Number(req.query.after);
      const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
      if (!Number.isSafeInteger(after) || after < 0)
        throw new KvalregError('invalid', 'after must be a case id (a whole number of 0 or more).');
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
        throw new KvalregError('invalid', 'limit must be a whole number from 1 to 1000 per page; follow "next" for the rest.');
      const page = await platform.quality.cases(req.caller!, r, {
        finding: req.query.finding,
        unit: req.query.unit ?? nation(),
        year: yearOf(req.query.year),
        after,
        limit,
        dataset: datasetOf(req.query.dataset),
        client: req.ip,
      });
      reply.header('cache-control', 'no-store');
      return page;
    },
  );

  app.post<{ Params: { id: string }; Body: { finding?: string; unit?: string; year?: number | string; status?: string; note?: string } }>(
    '/api/registries/:id/quality/follow-up',
    {
      config: { access: WRITERS },
      schema: {
        params: z.object({ id: z.string() }),
        querystring: looseQuery({}),
        body: looseBody(['finding', 'note', 'status', 'unit', 'year']).optional(),
      },
    },
    async (
      req: FastifyRequest<{
        Params: { id: string };
        Body: { finding?: string; unit?: string; year?: number | string; status?: string; note?: string };
      }>,
      reply,
    ) => {
      const r = registryOf(req.params.id);
      const b = req.body ?? {};
      if (!b.finding || !b.unit || b.year === undefined || !b.status)
        throw new KvalregError('invalid', `Send {"finding", "unit", "year", "status" (${FOLLOW_UP_STATUSES.join(', ')}), "note"}.`);
      const history = await platform.quality.followUp(req.caller!, r, {
        finding: String(b.finding),
        unit: String(b.unit),
        year: yearOf(String(b.year)),
        status: b.status as FollowUpStatus,
        note: String(b.note ?? ''),
      });
      return reply
        .code(201)
        .send({ finding: b.finding, unit: b.unit, year: Number(b.year), status: history[history.length - 1]?.status, history });
    },
  );

  // Coverage against NPR: the extract comes as CSV.
  const NPR_CSV =
    'Send the NPR extract as CSV (Content-Type: text/csv) with a header row: episode_id, national_id, hospital_resh, admission_date, discharge_date, contact_type, icd10, ncsp.';
  app.post<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/npr-extracts',
    {
      config: { access: ADMINS },
      schema: {
        params: z.object({ id: z.string() }),
        consumes: ['text/csv'],
        querystring: looseQuery({ dryRun: '', source: '' }),
        body: z.string(NPR_CSV).refine((csv) => csv.trim() !== '', NPR_CSV),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      // The schema above has checked that the body is non-empty CSV text.
      const result = await platform.quality.importNpr(req.caller!, r, req.body as string, platform.keys, {
        source: req.query.source ?? 'upload',
        allowTestIdentities: platform.config.allowTestIdentities,
        dryRun: req.query.dryRun === '1' || req.query.dryRun === 'true',
        client: req.ip,
      });
      return reply.code(result.dryRun ? 200 : 201).send(result);
    },
  );
  app.post<{ Params: { id: string } }>(
    '/api/registries/:id/coverage/compute',
    { config: { access: ADMINS }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({}), body: noBody } },
    async (req) => {
      const r = registryOf(req.params.id);
      await platform.data.transaction(req.caller!, 'npr:coverage', async (tx) => {
        tx.requireUnit(r.id, null, ['registry-admin', 'platform-admin']);
      });
      const rows = await platform.quality.computeCoverage(r);
      return { registry: r.id, units: rows.length };
    },
  );
  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/coverage',
    { config: { access: READERS }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ unit: '' }) } },
    async (req) => {
      const r = registryOf(req.params.id);
      return platform.quality.coverage(req.caller!, r, { unit: req.query.unit ?? nation() });
    },
  );
  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/public/registries/:id/coverage',
    { config: { access: PUBLIC }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ unit: '' }) } },
    async (req) => {
      const r = registryOf(req.params.id);
      return platform.quality.coverage(null, r, { unit: req.query.unit ?? nation() });
    },
  );
  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/npr-worklist',
    {
      config: { access: WRITERS },
      schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ after: '', limit: '', unit: '', year: '' }) },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      if (!req.query.unit) throw new KvalregError('invalid', 'Give unit= (your hospital or department) and year=.');
      const after = req.query.after === undefined ? 0 : Number(req.query.after);
      const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
      if (!Number.isSafeInteger(after) || after < 0)
        throw new KvalregError('invalid', 'after must be a whole number of 0 or more (the "next" of the previous page).');
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000)
        throw new KvalregError('invalid', 'limit must be a whole number from 1 to 1000 per page; follow "next" for the rest.');
      const page = await platform.quality.onlyInNpr(req.caller!, r, {
        unit: req.query.unit,
        year: yearOf(req.query.year),
        after,
        limit,
        client: req.ip,
      });
      reply.header('cache-control', 'no-store');
      return page;
    },
  );

  // Correctness by re-abstraction (quality/validation.ts).
  const periodOf = (id: string) => {
    const set = platform.quality.checks(id);
    if (!set) throw new QualityError(`The ${id} registry declares no data quality (quality.yaml).`, 404);
    return set.periodSql;
  };
  const positive = (raw: string, what: string) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n <= 0) throw new KvalregError('invalid', `"${raw}" is not a ${what} id.`);
    return n;
  };
  const ADMIN_ROLES = ['registry-admin', 'platform-admin'] as const;
  app.post<{ Params: { id: string }; Body: StudyDef }>(
    '/api/registries/:id/validation-studies',
    {
      config: { access: ADMINS },
      schema: {
        params: z.object({ id: z.string() }),
        querystring: looseQuery({}),
        body: looseBody([]).nullish(),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const period = periodOf(r.id);
      await platform.data.transaction(
        req.caller!,
        'validation:create',
        async (tx) => {
          tx.requireUnit(r.id, null, [...ADMIN_ROLES], { object: `registry/${r.id}/validation`, personId: null });
        },
        { client: req.ip },
      );
      // Drawn by the platform (the sample spans every unit); who asked is kept with the study.
      const res = await platform.data.transaction(
        { kind: 'platform', task: 'validation' },
        'validation:create',
        (tx) => createStudy(tx, r, period, req.body ?? ({} as StudyDef), callerLabel(req.caller!)),
        { client: req.ip },
      );
      return reply.code(201).send(res);
    },
  );
  app.get<{ Params: { id: string; study: string }; Querystring: Q }>(
    '/api/registries/:id/validation-studies/:study/sample',
    {
      config: { access: WRITERS },
      schema: { params: z.object({ id: z.string(), study: z.string() }), querystring: looseQuery({ unit: '' }) },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const period = periodOf(r.id);
      if (!req.query.unit || !platform.units.has(req.query.unit))
        throw new KvalregError('invalid', 'Give unit= (the RESH id of your unit).');
      const out = await platform.data.transaction(
        req.caller!,
        'validation:sample',
        (tx) => {
          tx.requireUnit(r.id, req.query.unit!, ['unit-registrar', ...ADMIN_ROLES], {
            object: `registry/${r.id}/validation/${req.params.study}/sample`,
            personId: null,
          });
          return sampleFor(tx, r, positive(req.params.study, 'study'), req.query.unit!, period, platform.keys);
        },
        { readOnly: true, client: req.ip },
      );
      reply.header('cache-control', 'no-store');
      return out;
    },
  );
  app.put<{ Params: { id: string; study: string; caseId: string }; Body: { values?: Record<string, unknown> } }>(
    '/api/registries/:id/validation-studies/:study/cases/:caseId',
    {
      config: { access: WRITERS },
      schema: {
        params: z.object({ id: z.string(), study: z.string(), caseId: z.string() }),
        querystring: looseQuery({}),
        body: looseBody(['values']).nullish(),
      },
    },
    async (req) => {
      const r = registryOf(req.params.id);
      const caseId = positive(req.params.caseId, 'case');
      return platform.data.transaction(
        req.caller!,
        'validation:abstract',
        async (tx) => {
          // The case's unit first: another unit's user learns nothing, not even whether the study exists.
          const owner = (await tx.client.query('SELECT unit, person_id FROM kvalreg_case_unit($1, $2)', [r.id, caseId])).rows[0];
          if (owner?.unit)
            tx.requireUnit(r.id, owner.unit, ['unit-registrar', ...ADMIN_ROLES], {
              object: `registry/${r.id}/validation/case/${caseId}`,
              personId: owner.person_id ? Number(owner.person_id) : null,
            });
          if (!req.body?.values || typeof req.body.values !== 'object')
            throw new KvalregError('invalid', 'Send {"values": {"variable": value or null, …}} with what the record says.');
          return abstractCase(tx, r, positive(req.params.study, 'study'), caseId, req.body.values, callerLabel(req.caller!));
        },
        { client: req.ip },
      );
    },
  );
  app.get<{ Params: { id: string; study: string } }>(
    '/api/registries/:id/validation-studies/:study/agreement',
    { config: { access: ADMINS }, schema: { params: z.object({ id: z.string(), study: z.string() }), querystring: looseQuery({}) } },
    async (req) => {
      const r = registryOf(req.params.id);
      const period = periodOf(r.id);
      return platform.data.transaction(
        req.caller!,
        'validation:agreement',
        (tx) => {
          tx.requireUnit(r.id, null, [...ADMIN_ROLES]);
          return agreement(tx, r, positive(req.params.study, 'study'), period);
        },
        { readOnly: true, client: req.ip },
      );
    },
  );
  app.get<{ Params: { id: string; study: string } }>(
    '/api/registries/:id/validation-studies/:study/dataset.csv',
    { config: { access: ADMINS }, schema: { params: z.object({ id: z.string(), study: z.string() }), querystring: looseQuery({}) } },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const period = periodOf(r.id);
      const csv = await platform.data.transaction(
        req.caller!,
        'validation:export',
        (tx) => {
          tx.requireUnit(r.id, null, [...ADMIN_ROLES]);
          return validationDataset(tx, r, positive(req.params.study, 'study'), period);
        },
        { readOnly: true, client: req.ip },
      );
      reply.header('cache-control', 'no-store');
      return reply.type('text/csv; charset=utf-8').send(csv);
    },
  );

  // Stage assessment (quality/stage.ts): the registry's admins.
  app.get<{ Params: { id: string }; Querystring: Q }>(
    '/api/registries/:id/stage',
    { config: { access: ADMINS }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ year: '' }) } },
    async (req) => {
      const r = registryOf(req.params.id);
      await platform.data.transaction(
        req.caller!,
        'stage:read',
        async (tx) => {
          tx.requireUnit(r.id, null, [...ADMIN_ROLES], { object: `registry/${r.id}/stage`, personId: null });
        },
        { readOnly: true, client: req.ip },
      );
      return platform.quality.stage(r, yearOf(req.query.year));
    },
  );
  app.post<{ Params: { id: string }; Body: { year?: number | string; nr?: number; answer?: boolean; evidence?: string; note?: string } }>(
    '/api/registries/:id/stage/answers',
    {
      config: { access: ADMINS },
      schema: {
        params: z.object({ id: z.string() }),
        querystring: looseQuery({}),
        body: looseBody(['answer', 'evidence', 'note', 'nr', 'year']).optional(),
      },
    },
    async (req, reply) => {
      const r = registryOf(req.params.id);
      const b = req.body ?? {};
      if (b.year === undefined || b.nr === undefined || b.answer === undefined)
        throw new KvalregError('invalid', 'Send {"year", "nr", "answer": true|false, "evidence": "a link", "note"}.');
      const res = await platform.quality.answerStage(req.caller!, r, {
        year: yearOf(String(b.year)),
        nr: Number(b.nr),
        answer: b.answer,
        evidence: String(b.evidence ?? ''),
        note: String(b.note ?? ''),
      });
      return reply.code(201).send(res);
    },
  );
}
