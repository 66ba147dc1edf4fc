// Open metadata (no login): each registry's forms, variables, code lists, derived variables and
// indicators, with each variable's change history; the codebook in the canonical layout (CSV,
// XLSX), the REDCap data dictionary, FHIR Questionnaire/CodeSystem/ValueSet, and a DCAT-AP-NO
// dataset description. Definitions only: no data and no counts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RouteOptions } from './plugin.ts';
import { codebookCsv, codebookXlsx } from '../../metadata/codebook.ts';
import { dcatTurtle } from '../../metadata/dcat.ts';
import { codeSystem, questionnaire, valueSet } from '../../metadata/fhir.ts';
import { openMetadata } from '../../metadata/open.ts';
import { redcapCsv } from '../../metadata/redcap.ts';
import { osloDate } from '../../time/oslo.ts';
import { PUBLIC } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

const FHIR_JSON = 'application/fhir+json';

export async function metadataRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const registryOf = (id: string) => {
    const r = platform.registry(id);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${id}"; known: ${platform.registries.map((x) => x.id).join(', ')}.`);
    return r;
  };
  const base = (req: FastifyRequest) => `${req.protocol}://${req.host}`;
  const prefix = '/api/public/registries/:id/metadata';
  type P = { Params: { id: string; name?: string }; Querystring: { lang?: string } };

  const json = async (req: FastifyRequest<P>) => {
    const r = registryOf(req.params.id);
    return openMetadata(platform.db.pool, r, platform.indicators.list(r.id), req.query.lang === 'en' ? 'en' : 'nb');
  };
  app.get<P>(prefix, { config: { access: PUBLIC } }, json);
  app.get<P>(`${prefix}/metadata.json`, { config: { access: PUBLIC } }, json);
  app.get<P>(`${prefix}/codebook.csv`, { config: { access: PUBLIC } }, async (req, reply) => {
    const r = registryOf(req.params.id);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${r.id}-kodebok.csv"`)
      .send(codebookCsv(r));
  });
  app.get<P>(`${prefix}/codebook.xlsx`, { config: { access: PUBLIC } }, async (req, reply) => {
    const r = registryOf(req.params.id);
    return reply
      .type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
      .header('content-disposition', `attachment; filename="${r.id}-kodebok.xlsx"`)
      .send(await codebookXlsx(r));
  });
  app.get<P>(`${prefix}/redcap.csv`, { config: { access: PUBLIC } }, async (req, reply) => {
    const r = registryOf(req.params.id);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="${r.id}-redcap-dictionary.csv"`)
      .send(redcapCsv(r));
  });
  app.get<P>(`${prefix}/dcat.ttl`, { config: { access: PUBLIC } }, async (req, reply) => {
    const r = registryOf(req.params.id);
    return reply
      .type('text/turtle; charset=utf-8')
      .send(await dcatTurtle(r, platform.units, base(req), osloDate(new Date().toISOString())));
  });
  const fhir = (kind: 'Questionnaire' | 'CodeSystem' | 'ValueSet') =>
    app.get<P>(`${prefix}/${kind}/:name`, { config: { access: PUBLIC } }, async (req, reply) => {
      const r = registryOf(req.params.id);
      const fhirBase = `${base(req)}/api/public/registries/${r.id}/metadata`;
      const res =
        kind === 'Questionnaire'
          ? questionnaire(fhirBase, r, req.params.name!)
          : kind === 'CodeSystem'
            ? codeSystem(fhirBase, r, req.params.name!)
            : valueSet(fhirBase, r, req.params.name!);
      if (!res)
        throw new KvalregError(
          'not-found',
          `The ${r.id} registry has no ${kind === 'Questionnaire' ? 'form' : 'code list'} "${req.params.name}"; see ${prefix.replace(':id', r.id)}.`,
        );
      return reply.type(FHIR_JSON).send(res);
    });
  fhir('Questionnaire');
  fhir('CodeSystem');
  fhir('ValueSet');
}
