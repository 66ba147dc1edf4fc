// PROM routes. Registrars print the paper form of an invitation their unit can see and enter the
// answers that come back by post (provenance "paper"); the answers are scored and shared like any.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { looseQuery, noBody, looseBody } from '../schemas.ts';
import { callerLabel } from '../../access/caller.ts';
import type { RouteOptions } from './plugin.ts';
import { paperPdf } from '../../prom/paper.ts';
import { invitationInstruments, saveResponse } from '../../prom/responses.ts';
import { hospitalName } from '../../prom/sender.ts';
import { answersFromJson, type AnswerFormatError } from '../../prom/answers.ts';
import { ANY_CALLER, PATIENTS, PUBLIC, WRITERS } from '../access-policy.ts';
import { osloDate } from '../../time/oslo.ts';
import { PatientForms } from '../../prom/form.ts';
import { followUpList, overrideDecision } from '../../prom/triage.ts';
import { clinicAnswers } from '../../prom/clinic.ts';
import { READERS } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const PLATFORM = { kind: 'platform', task: 'prom-paper' } as const;

function invitationId(raw: string): number {
  const id = Number(raw);
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new KvalregError('invalid', `"${raw}" is not an invitation id: invitation ids are positive whole numbers.`);
  return id;
}

const FHIR_JSON = 'application/fhir+json';

export async function promRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const prom = platform.prom;

  // The instruments' Questionnaires, for systems that send QuestionnaireResponses (and for anyone
  // building a form): read and search by canonical URL, id or name. Behind a login, not public:
  // once the licensee's texts are loaded, they are licensed material.
  app.get<{ Querystring: { url?: string; _id?: string; name?: string } }>(
    '/fhir/Questionnaire',
    {
      schema: {
        querystring: z.object({ url: z.string().optional(), _id: z.string().optional(), name: z.string().optional() }),
      },
      config: {
        access: ANY_CALLER,
        fhir: {
          searchParams: [
            { name: 'url', type: 'uri', documentation: "The Questionnaire's canonical URL (a |version is ignored)." },
            { name: '_id', type: 'token', documentation: "The instrument's id." },
            { name: 'name', type: 'string', documentation: "Part of the Questionnaire's name, any case." },
          ],
        },
      },
    },
    async (req, reply) => {
      // [conformance] fullUrls from KVALREG_PUBLIC_URL, never the request's host (behind the proxy it is an internal one).
      const base = `${platform.config.publicUrl}/fhir`;
      const { url, _id: id, name } = req.query;
      const found = [...prom.instruments.values()].filter(
        (i) =>
          (url === undefined || url.split('|')[0] === i.questionnaire.url) &&
          (id === undefined || id === i.id) &&
          (name === undefined ||
            String(i.questionnaire.name ?? i.id)
              .toLowerCase()
              .includes(name.toLowerCase())),
      );
      return reply.type(FHIR_JSON).send({
        resourceType: 'Bundle',
        type: 'searchset',
        total: found.length,
        entry: found.map((i) => ({ fullUrl: `${base}/Questionnaire/${i.id}`, resource: i.questionnaire, search: { mode: 'match' } })),
      });
    },
  );
  // PROM results of a unit beside the nation: response rates, responders against non-responders,
  // scores and their change. Aggregates only, small counts withheld (src/prom/small-counts.ts):
  // open, as indicator results are.
  app.get<{ Params: { id: string }; Querystring: { year?: string; unit?: string } }>(
    '/api/registries/:id/prom/results',
    { config: { access: PUBLIC }, schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ unit: '', year: '' }) } },
    async (req) => {
      const r = platform.registry(req.params.id);
      if (!r)
        throw new KvalregError(
          'not-found',
          `Unknown registry "${req.params.id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`,
        );
      const today = osloDate(new Date().toISOString());
      const year = req.query.year ?? String(Number(today.slice(0, 4)) - 1);
      if (!/^\d{4}$/.test(year)) throw new KvalregError('invalid', 'year must be a year like 2024.');
      if (req.query.unit !== undefined && !platform.units.has(req.query.unit))
        throw new KvalregError('invalid', `Unknown unit "${req.query.unit}": give the RESH id of a unit.`);
      return prom.results.results(r, { year, unit: req.query.unit, asOf: today });
    },
  );

  app.get<{ Params: { questionnaireId: string } }>(
    '/fhir/Questionnaire/:questionnaireId',
    { config: { access: ANY_CALLER }, schema: { params: z.object({ questionnaireId: z.string() }), querystring: looseQuery({}) } },
    async (req, reply) => {
      const inst = prom.instruments.get(req.params.questionnaireId);
      if (!inst)
        throw new KvalregError(
          'not-found',
          `No Questionnaire "${req.params.questionnaireId}". GET /fhir/Questionnaire lists them: ${[...prom.instruments.keys()].join(', ')}.`,
        );
      return reply.type(FHIR_JSON).send(inst.questionnaire);
    },
  );
  const forms = new PatientForms(prom, platform.data, platform.units);

  // A proxy (a parent, a relative) logged in as themselves gives the letter's one-time code.
  app.post<{ Params: { token: string }; Body: { code?: unknown; relation?: unknown } }>(
    '/api/prom/form/:token/proxy',
    {
      config: { access: PATIENTS },
      schema: {
        params: z.object({ token: z.string() }),
        querystring: looseQuery({}),
        body: looseBody([]).nullish(),
      },
    },
    async (req) => ({ respondent: await forms.claim(req.params.token, req.caller!, req.body ?? {}) }),
  );

  // The patient's form: the invitation a link names, for the patient it was sent to (logged in).
  app.get<{ Params: { token: string } }>(
    '/api/prom/form/:token',
    { config: { access: PATIENTS }, schema: { params: z.object({ token: z.string() }), querystring: looseQuery({}) } },
    async (req, reply) => reply.header('cache-control', 'no-store').send(await forms.view(req.params.token, req.caller!)),
  );
  for (const [suffix, complete] of [
    ['', false],
    ['/submit', true],
  ] as const) {
    app.post<{ Params: { token: string; instrument: string }; Body: { answers?: unknown; recall?: unknown } }>(
      `/api/prom/form/:token/:instrument${suffix}`,
      {
        config: { access: PATIENTS },
        schema: {
          params: z.object({ token: z.string(), instrument: z.string() }),
          querystring: looseQuery({}),
          body: looseBody([]).nullish(),
        },
      },
      async (req) => forms.save(req.params.token, req.caller!, req.params.instrument, req.body ?? {}, complete),
    );
  }

  /** The invitation as the caller may see it (row-level security decides): 404 when it is not theirs. */
  const visible = async (req: any, id: number) =>
    platform.data.transaction(
      req.caller!,
      'prom:invitation',
      async (tx) => {
        const row = (
          await tx.client.query('SELECT id, person_id, unit_resh, purpose, status, expires_at FROM prom_invitation WHERE id = $1', [id])
        ).rows[0];
        if (!row) throw new KvalregError('not-found', `No invitation ${id} at your units.`);
        tx.audit({ action: 'read', object: `prom/invitation/${id}`, personIds: [Number(row.person_id)] });
        return row;
      },
      { readOnly: true, client: req.ip },
    );

  app.get<{ Params: { invitationId: string } }>(
    '/api/prom/invitations/:invitationId/paper.pdf',
    { config: { access: WRITERS }, schema: { params: z.object({ invitationId: z.string() }), querystring: looseQuery({}) } },
    async (req, reply) => {
      const id = invitationId(req.params.invitationId);
      const inv = await visible(req, id);
      const pdf = await platform.data.transaction(PLATFORM, 'prom:paper', async (tx) => {
        const asked = await invitationInstruments(tx, id, prom.order);
        // The PDF first, then the record of its printing: the record's key locks the invitation
        // (the patient's code check waits for it), for as short a time as may be.
        const pdf = await paperPdf({
          invitationId: id,
          hospital: hospitalName(platform.units, inv.unit_resh),
          purpose: inv.purpose?.nb ?? '',
          code: prom.links.code(id),
          link: `${platform.config.publicUrl}/prom/${prom.links.token(id)}`,
          deadline: inv.expires_at ? new Date(inv.expires_at).toISOString() : null,
          instruments: asked.map((a) => ({ instrument: prom.instruments.get(a.instrument)!, recall: a.recall })),
        });
        await tx.client.query(
          "INSERT INTO prom_delivery (invitation_id, channel, kind, status) VALUES ($1, 'paper', 'invitation', 'printed')",
          [id],
        );
        tx.audit({
          action: 'prom:paper',
          object: `prom/invitation/${id}`,
          personIds: [Number(inv.person_id)],
          actor: { label: callerLabel(req.caller!), role: 'unit-registrar' },
        });
        return pdf;
      });
      return reply
        .type('application/pdf')
        .header('content-disposition', `attachment; filename="prom-${id}.pdf"`)
        .header('cache-control', 'no-store')
        .send(pdf);
    },
  );

  app.post<{ Params: { invitationId: string }; Body: { instrument?: string; recall?: string; answers?: unknown } }>(
    '/api/prom/invitations/:invitationId/paper',
    {
      config: { access: WRITERS },
      schema: {
        params: z.object({ invitationId: z.string() }),
        querystring: looseQuery({}),
        body: looseBody(['answers', 'instrument', 'recall']).optional(),
      },
    },
    async (req, reply) => {
      const id = invitationId(req.params.invitationId);
      const inv = await visible(req, id);
      const instrument = prom.instruments.get(String(req.body?.instrument ?? ''));
      if (!instrument) throw new KvalregError('invalid', `Give "instrument": one of ${[...prom.instruments.keys()].join(', ')}.`);
      let answers;
      try {
        answers = answersFromJson(req.body?.answers);
      } catch (err) {
        throw new KvalregError('invalid', `answers: ${(err as AnswerFormatError).message}`);
      }
      const saved = await platform.data.transaction(
        PLATFORM,
        'prom:paper-entry',
        async (tx) => {
          const asked = await invitationInstruments(tx, id, prom.order);
          const which = asked.find((a) => a.instrument === instrument.id && (!req.body?.recall || a.recall === req.body.recall));
          if (!which)
            throw new KvalregError(
              'conflict',
              `Invitation ${id} does not ask ${instrument.id}; it asks ${asked.map((a) => a.instrument).join(', ')}.`,
            );
          const user = callerLabel(req.caller!);
          tx.audit({
            action: 'prom:paper-entry',
            object: `prom/invitation/${id}`,
            personIds: [Number(inv.person_id)],
            actor: { label: user, role: 'unit-registrar' },
          });
          const saved = await saveResponse(tx, {
            personId: Number(inv.person_id),
            invitationId: id,
            instrument,
            recall: which.recall,
            answers,
            complete: true,
            provenance: { kind: 'paper', user },
            at: new Date(),
          });
          await prom.triage.evaluate(tx, { personId: Number(inv.person_id) });
          return saved;
        },
        { client: req.ip },
      );
      return reply.code(201).send(saved);
    },
  );

  // The unit's follow-up worklist (digital home follow-up): patients whose answers call for a
  // visit, and those marked "no visit needed"; a clinician may override with a reason.
  const registryOf = (rid: string) => {
    const r = platform.registries.find((x) => x.id === rid);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${rid}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`);
    return r;
  };
  const count = (raw: string | undefined, name: string, dflt: number) => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 0) throw new KvalregError('invalid', `${name} must be a whole number of 0 or more.`);
    return n;
  };
  app.get<{ Params: { id: string }; Querystring: { unit?: string; decision?: string; limit?: string; offset?: string } }>(
    '/api/registries/:id/prom/follow-up',
    {
      config: { access: READERS },
      schema: { params: z.object({ id: z.string() }), querystring: looseQuery({ decision: '', limit: '', offset: '', unit: '' }) },
    },
    async (req) => {
      const r = registryOf(req.params.id);
      if (req.query.unit !== undefined && !platform.units.has(req.query.unit))
        throw new KvalregError('invalid', `Unknown unit "${req.query.unit}": give the RESH id of a unit.`);
      return platform.data.transaction(
        req.caller!,
        'prom:follow-up',
        (tx) =>
          followUpList(tx, r, prom.triage.declarations, {
            unit: req.query.unit,
            decision: req.query.decision || undefined,
            limit: count(req.query.limit, 'limit', 50),
            offset: count(req.query.offset, 'offset', 0),
          }),
        { readOnly: true, client: req.ip },
      );
    },
  );
  // The clinic's own follow-up (schedules declared party: clinic): the answers to its items, for
  // the unit's own patients; never what only a registry asked (src/prom/clinic.ts).
  app.get<{ Params: { id: string }; Querystring: { unit?: string; status?: string; limit?: string; offset?: string } }>(
    '/api/registries/:id/prom/clinic',
    {
      config: { access: READERS },
      schema: {
        summary: 'The clinic’s own follow-up: the answers to its items, for the unit’s own patients',
        params: z.object({ id: z.string() }),
        querystring: z.object({
          unit: z.string().optional().describe('The RESH id of a unit.'),
          status: z.string().optional(),
          limit: z.string().optional(),
          offset: z.string().optional(),
        }),
      },
    },
    async (req) => {
      const r = registryOf(req.params.id);
      if (req.query.unit !== undefined && !platform.units.has(req.query.unit))
        throw new KvalregError('invalid', `Unknown unit "${req.query.unit}": give the RESH id of a unit.`);
      return platform.data.transaction(
        req.caller!,
        'prom:clinic',
        (tx) =>
          clinicAnswers(tx, r, {
            unit: req.query.unit,
            status: req.query.status || undefined,
            limit: count(req.query.limit, 'limit', 100),
            offset: count(req.query.offset, 'offset', 0),
          }),
        { readOnly: true, client: req.ip },
      );
    },
  );
  app.post<{ Params: { id: string; caseId: string; triage: string }; Body: { decision?: unknown; reason?: unknown } }>(
    '/api/registries/:id/prom/follow-up/:caseId/:triage',
    {
      config: { access: WRITERS },
      schema: {
        params: z.object({ id: z.string(), caseId: z.string(), triage: z.string() }),
        querystring: looseQuery({}),
        body: looseBody([]).nullish(),
      },
    },
    async (req) => {
      const r = registryOf(req.params.id);
      const caseId = Number(req.params.caseId);
      if (!Number.isSafeInteger(caseId) || caseId <= 0)
        throw new KvalregError('invalid', `"${req.params.caseId}" is not a case id: case ids are positive whole numbers.`);
      return platform.data.transaction(
        req.caller!,
        'prom:follow-up-override',
        (tx) => overrideDecision(tx, r, caseId, req.params.triage, req.body ?? {}),
        { client: req.ip },
      );
    },
  );
}
