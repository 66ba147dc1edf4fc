// The FHIR API: capture (POST /fhir, a Bundle from a hospital system, through the inbox), and the
// conformance routes: the CapabilityStatement (generated from the route table), $validate per
// resource type answering as FHIR servers do (200 with the findings), the StructureDefinitions of
// the platform's extensions, and an OperationOutcome for every FHIR interaction the server does not
// have. Canonical URLs come from KVALREG_PUBLIC_URL, never from the request.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Bundle, OperationOutcome } from 'fhir/r4.js';
import { ACCEPTED_TYPES, isText } from '../../capture/bundle.ts';
import { identityOfPatient } from '../../capture/identity.ts';
import { issue, operationOutcome, type Issue } from '../../capture/outcome.ts';
import { EXTENSIONS, extensionDefinition } from '../../fhir/extensions.ts';
import { validateResource } from '../../fhir/schema.ts';
import type { Caller } from '../../access/caller.ts';
import type { Platform } from '../../platform.ts';
import type { RouteOptions } from './plugin.ts';
import { PUBLIC, SYSTEMS } from '../access-policy.ts';
import { capabilityStatement, NO_BASIS_PATIENT } from '../capability.ts';

const FHIR_JSON = 'application/fhir+json';

const VERSION = '0.1.0';
const SECURITY =
  'OAuth2 access tokens (JWT) from the configured issuer (HelseID), as "Authorization: Bearer" or, DPoP-bound, as "Authorization: DPoP" with a DPoP proof; or a bearer token issued by the registry. See docs/fhir-api.md.';

export function fhirBase(platform: Platform): string {
  return `${platform.config.publicUrl}/fhir`;
}

export async function fhirRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const base = fhirBase(platform);
  const metrics = app.metrics;

  // Capture: a Bundle from a hospital system, through the inbox (capture/). $validate of a whole
  // Bundle is the same pipeline as a dry run, nothing stored.
  const postBundle = async (req: FastifyRequest, reply: FastifyReply, dryRun: boolean) => {
    const c = req.caller as Caller & { kind: 'system' };
    if (typeof req.body !== 'string' || req.body.length === 0) {
      return reply
        .code(400)
        .type(FHIR_JSON)
        .send(
          operationOutcome([
            issue.error('structure', undefined, 'Empty body. Send a FHIR Bundle with Content-Type application/fhir+json.'),
          ]),
        );
    }
    const outcome = dryRun ? await platform.inbox.validate(c, req.body) : await platform.inbox.capture(c, 'fhir', req.body);
    if (!dryRun) metrics.captured(outcome.status);
    if (outcome.messageId) reply.header('X-Kvalreg-Message', String(outcome.messageId));
    // [conformance] $validate answers with its findings and 200, as FHIR servers do; only a body that
    // is not JSON at all (nothing to validate) or a failure of the server is not a 200.
    const status = dryRun && outcome.httpStatus < 500 && !isUnparsable(req.body) ? 200 : outcome.httpStatus;
    return reply.code(status).type(FHIR_JSON).send(outcome.body);
  };
  app.post('/fhir', { config: { access: SYSTEMS } }, (req, reply) => postBundle(req, reply, false));
  app.post('/fhir/', { config: { access: SYSTEMS } }, (req, reply) => postBundle(req, reply, false));

  app.get('/fhir/metadata', { config: { access: PUBLIC } }, async (_req, reply) =>
    reply.type(FHIR_JSON).send(
      capabilityStatement({
        base,
        version: VERSION,
        routes: app.routeTable,
        acceptedInBundles: ACCEPTED_TYPES,
        security: SECURITY,
      }),
    ),
  );

  // $validate per resource type (FHIR R4 Resource-validate: type level). The findings are the
  // answer, with 200: a 4xx means the validation itself could not be done (FHIR's operation page).
  app.post(
    '/fhir/Bundle/$validate',
    {
      config: {
        access: SYSTEMS,
        fhir: {
          documentation:
            "A dry run of a transaction or batch Bundle: the base FHIR checks, then every registry's mapping and rules, nothing stored.",
        },
      },
    },
    (req, reply) => postBundle(req, reply, true),
  );
  for (const type of ACCEPTED_TYPES) {
    app.post(
      `/fhir/${type}/$validate`,
      { config: { access: SYSTEMS, ...(type === 'Patient' ? { fhir: { supportedProfile: [NO_BASIS_PATIENT] } } : {}) } },
      async (req, reply) => {
        const answer = validateOne(platform, type, req.body);
        return reply.code(answer.status).type(FHIR_JSON).send(answer.outcome);
      },
    );
  }

  // The platform's extensions, each at the URL it is used under.
  app.get(
    '/fhir/StructureDefinition',
    {
      config: {
        access: PUBLIC,
        fhir: { searchParams: [{ name: 'url', type: 'uri', documentation: 'The canonical URL of one extension.' }] },
      },
    },
    async (req, reply) => {
      const url = (req.query as { url?: string }).url;
      const all = Object.keys(EXTENSIONS)
        .map((id) => extensionDefinition(base, id, VERSION))
        .filter((sd) => !url || sd.url === url);
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: all.length,
        entry: all.map((resource) => ({ fullUrl: resource.url, resource, search: { mode: 'match' } })),
      };
      return reply.type(FHIR_JSON).send(bundle);
    },
  );
  app.get<{ Params: { id: string } }>('/fhir/StructureDefinition/:id', { config: { access: PUBLIC } }, async (req, reply) => {
    if (!Object.hasOwn(EXTENSIONS, req.params.id)) {
      return reply
        .code(404)
        .type(FHIR_JSON)
        .send(
          operationOutcome([
            issue.error(
              'not-found',
              undefined,
              `No StructureDefinition "${req.params.id}". GET /fhir/StructureDefinition lists the platform's extensions.`,
            ),
          ]),
        );
    }
    return reply.type(FHIR_JSON).send(extensionDefinition(base, req.params.id, VERSION));
  });

  // Anything else under /fhir — another method on a path that exists, a type or operation this server
  // does not have — is answered in FHIR, and says where to look.
  app.setNotFoundHandler((req, reply) => {
    const url = req.url.split('?')[0];
    if (!url.startsWith('/fhir')) return reply.code(404).send({ error: `No such endpoint: ${req.method} ${url}.` });
    return reply
      .code(404)
      .type(FHIR_JSON)
      .send(
        operationOutcome([
          issue.error(
            'not-supported',
            undefined,
            `This server does not support ${req.method} ${url}. GET /fhir/metadata lists every interaction it supports${url.endsWith('/$validate') ? '; $validate is per resource type, e.g. POST /fhir/Bundle/$validate' : ''}.`,
          ),
        ]),
      );
  });
}

/** The answer to POST /fhir/<type>/$validate: the findings with 200, or why validation could not be done. */
function validateOne(platform: Platform, type: string, body: unknown): { status: number; outcome: OperationOutcome } {
  const fail = (status: number, code: Issue['code'], message: string) => ({
    status,
    outcome: operationOutcome([issue.error(code, undefined, message)]),
  });
  if (typeof body !== 'string' || !body)
    return fail(400, 'structure', `Empty body. Send a ${type} (or a Parameters with a "resource" parameter) as application/fhir+json.`);
  let json: any;
  try {
    json = JSON.parse(body);
  } catch (err) {
    return fail(400, 'structure', `The body is not valid JSON (${(err as Error).message}).`);
  }
  let resource = json;
  let profile: string | undefined;
  if (json?.resourceType === 'Parameters' && Array.isArray(json.parameter)) {
    const param = (name: string) => json.parameter.find((p: any) => p?.name === name);
    resource = param('resource')?.resource;
    profile = param('profile')?.valueCanonical ?? param('profile')?.valueUri;
    const mode = param('mode')?.valueCode;
    if (mode !== undefined)
      return fail(
        400,
        'not-supported',
        `mode "${mode}" is not supported: this server has no ${type} create, update or delete; it validates the resource as it would be received in a Bundle. Leave mode out.`,
      );
    if (!resource) return fail(400, 'required', 'The Parameters has no "resource" parameter with the resource to validate.');
  }
  if (resource?.resourceType !== type) {
    return fail(
      400,
      'invalid',
      `This is ${type}/$validate, but the resource is ${JSON.stringify(resource?.resourceType)}. Post it to /fhir/${resource?.resourceType ?? '<type>'}/$validate.`,
    );
  }
  const known = [`http://hl7.org/fhir/StructureDefinition/${type}`, ...(type === 'Patient' ? [NO_BASIS_PATIENT] : [])];
  if (profile && !known.includes(profile))
    return fail(
      400,
      'not-supported',
      `This server cannot validate against ${profile}; it validates ${type} against ${known.join(' and ')}.`,
    );

  const issues: Issue[] = validateResource(resource, type);
  for (const [i, p] of (Array.isArray(resource.meta?.profile) ? resource.meta.profile : []).entries()) {
    if (typeof p === 'string' && !known.includes(p))
      issues.push(
        issue.warning(
          'not-supported',
          `${type}.meta.profile[${i}]`,
          `Not validated against ${p}: this server knows ${known.join(' and ')}.`,
        ),
      );
  }
  // The platform's own rules for a resource received in a Bundle.
  if (resource.contained !== undefined)
    issues.push(
      issue.error(
        'not-supported',
        `${type}.contained`,
        'Contained resources are not accepted: send each resource as its own entry with its own identifier.',
      ),
    );
  if (type === 'Patient') {
    // no-basis-Patient's identifier slices (FNR, DNR, FHN, HNR with its assigner) and their numbers.
    identityOfPatient(platform.keys, resource, 'Patient', issues, { allowTestIdentities: platform.config.allowTestIdentities });
  } else if (!([] as any[]).concat(resource.identifier ?? []).some((x: any) => isText(x?.system) && isText(x?.value))) {
    // (An array on most types; one Identifier on QuestionnaireResponse, whose identifier is 0..1 in R4.)
    issues.push(
      issue.error(
        'required',
        `${type}.identifier`,
        `${type} has no identifier with system and value: give every resource the stable identifier your system uses for it, so that a resend or an update is recognised.`,
      ),
    );
  }
  if (!issues.some((i) => i.severity === 'error' || i.severity === 'warning'))
    issues.push(issue.info(undefined, `The ${type} is valid${profile ? ` against ${profile}` : ''}; nothing was stored.`));
  return { status: 200, outcome: operationOutcome(issues) };
}

/** A body that is not JSON: $validate cannot validate it (400), where findings about a resource are a 200. */
function isUnparsable(body: unknown): boolean {
  if (typeof body !== 'string') return true;
  try {
    JSON.parse(body);
    return false;
  } catch {
    return true;
  }
}
