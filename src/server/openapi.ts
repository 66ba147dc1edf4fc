// Schemas for HTTP input, and the API description made from them. Every route declares zod
// schemas for its path parameters, query and body (and its main responses) beside its access
// policy; fastify-type-provider-zod checks the input before the handler runs and gives the handler
// the parsed, typed values; @fastify/swagger turns the same schemas into the OpenAPI 3.1 document
// at GET /api/openapi.json, browsable at /api/docs (Swagger UI, served from our own origin).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema, FastifySerializerCompiler, RouteOptions } from 'fastify';
import { jsonSchemaTransform, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Access } from './access-policy.ts';
import { PUBLIC } from './access-policy.ts';
import { projectRoot } from '../config.ts';
import { KvalregError } from '../errors.ts';
import { cookieNames } from './auth.ts';

export const OPENAPI_PATH = '/api/openapi.json';
export const DOCS_PATH = '/api/docs';

/** What a bad input was: the answer names the field and what it should be. */
export interface ValidationProblem {
  /** One sentence per wrong field, joined. */
  message: string;
  /** Where the first problem is: `query.year`, `path.caseId`, `body.grants.0.role`. */
  location: string;
  details: Array<{ location: string; message: string }>;
}

const PART: Record<string, { root: string; label: string }> = {
  querystring: { root: 'query', label: 'Query parameter' },
  params: { root: 'path', label: 'Path parameter' },
  body: { root: 'body', label: 'Body field' },
  headers: { root: 'header', label: 'Header' },
};

interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: { expected?: string; input?: unknown };
}

/**
 * The house answer to a request that failed its route's schema, or undefined when `err` is not
 * one. A message that already starts with the field's name (a route's own wording, "year must be
 * a year like 2024") is kept as it is; zod's own wording is prefixed with where it applies.
 */
export function validationProblem(err: unknown): ValidationProblem | undefined {
  const e = err as { validation?: ValidationIssue[]; validationContext?: string };
  if (!e || !Array.isArray(e.validation) || e.validation.length === 0) return undefined;
  const part = PART[e.validationContext ?? ''] ?? { root: e.validationContext ?? 'request', label: 'Field' };
  const details = e.validation.map((issue) => {
    const steps = (issue.instancePath ?? '').split('/').filter(Boolean);
    const field = steps.join('.');
    const location = [part.root, ...steps].join('.');
    return { location, message: sentence(part, field, issue) };
  });
  return { message: details.map((d) => d.message).join(' '), location: details[0].location, details };
}

/** A schema failure as one of the house's errors (src/errors.ts), answered by the one error handler; any other error as it is. */
export function asBadRequest(err: unknown): unknown {
  const problem = validationProblem(err);
  return problem ? new KvalregError('invalid', problem.message, { location: problem.location, details: problem.details }) : err;
}

function sentence(part: { root: string; label: string }, field: string, issue: ValidationIssue): string {
  const raw = (issue.message ?? 'is not valid').replace(/\.$/, '');
  const lastName = field.split('.').pop() ?? '';
  if (field && (raw.startsWith(`${field} `) || raw.startsWith(`${lastName} `))) return `${raw}.`;
  const where = field ? `${part.label} "${field}"` : part.root === 'body' ? 'The body' : `The ${part.root}`;
  // zod says "Invalid input: expected object, received undefined" for a missing field; a route's
  // own message (anything but zod's wording) says it better.
  const zodWords = /^(Invalid|Too (small|big)|Unrecognized)/.test(raw);
  if (zodWords && issue.keyword === 'invalid_type' && /received undefined$/.test(raw))
    return `${where} is missing: give ${article(issue.params?.expected ?? 'value')}.`;
  return `${where}: ${raw.charAt(0).toLowerCase()}${raw.slice(1)}.`;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/**
 * Responses are written as the handler returned them: a response schema documents the answer (and
 * types the handler's return) but never changes it, so a field the schema does not list is not
 * silently dropped and a documentation slip cannot turn a good answer into a 500.
 * test/openapi.test.ts checks real answers against the documented schemas.
 */
const serializeAsIs: FastifySerializerCompiler<unknown> = () => (data) => JSON.stringify(data);

/** Security schemes of the description: how a caller proves who it is (server/auth.ts, auth/tokens.ts). */
function securitySchemes(sessionCookie: string) {
  return {
    bearer: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description:
        'An access token from the configured issuer (HelseID), or a token issued by the registry (`kvalreg token`): "Authorization: Bearer <token>".',
    },
    dpop: {
      type: 'http',
      scheme: 'DPoP',
      description: 'A DPoP-bound access token (RFC 9449): "Authorization: DPoP <token>" with a "DPoP" proof header for this request.',
    },
    session: {
      type: 'apiKey',
      in: 'cookie',
      name: sessionCookie,
      description:
        'The session of a person logged in through GET /auth/login. A request that changes something also sends the header X-CSRF-Token with the csrfToken from GET /api/me.',
    },
  } as const;
}

/** Who may call a route, in the description's words and as OpenAPI security requirements. */
export function describeAccess(access: Access | undefined): { security: Array<Record<string, string[]>>; text: string } {
  if (!access || 'public' in access) return { security: [], text: 'Public: no credentials needed.' };
  const people = access.callers.filter((c) => c !== 'system');
  const security: Array<Record<string, string[]>> = [{ bearer: [] }, { dpop: [] }];
  if (people.length) security.push({ session: [] });
  return { security, text: `Who may call: ${access.callers.join(', ')}.` };
}

/** The description's section for a path: the FHIR API, login, health, or the API's first word after the registry. */
function tagOf(url: string): string {
  if (url.startsWith('/fhir')) return 'fhir';
  if (url.startsWith('/auth')) return 'auth';
  if (url.startsWith('/health')) return 'health';
  const rest = url.replace(/^\/api\/registries\/:id\/?/, '').replace(/^\/api\//, '');
  return rest.split('/')[0] || 'registries';
}

/**
 * Installs the zod validator and the OpenAPI generator. Called before any route is registered:
 * @fastify/swagger collects routes as they are added.
 */
export async function registerSchemas(app: FastifyInstance, opts: { publicUrl: string }): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializeAsIs);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'kvalreg',
        version: (JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version,
        description:
          'The HTTP API of kvalreg, a platform for national medical quality registries. The FHIR R4 API (/fhir) takes FHIR JSON; ' +
          'its bodies are checked against the HL7 R4 schema and the registry profiles by the capture pipeline and answered with an OperationOutcome. ' +
          'Bad input is answered with 400 and a JSON problem (RFC 9457) with "error", "code", "location" and "details"; see docs/api.md.',
      },
      servers: [{ url: opts.publicUrl }],
      components: { securitySchemes: securitySchemes(cookieNames(true).session) },
    },
    hideUntagged: false,
    transform: (doc) => {
      const route = doc.route as RouteOptions;
      const { schema, url } = jsonSchemaTransform(doc as Parameters<typeof jsonSchemaTransform>[0]) as {
        schema: FastifySchema & Record<string, unknown>;
        url: string;
      };
      // A route without schemas is described too (with who may call it), only not its input.
      const described = schema ?? {};
      if (described.hide) return { schema: described, url };
      const access = describeAccess(route.config?.access);
      return {
        url,
        schema: {
          ...described,
          tags: (described.tags as string[] | undefined) ?? [tagOf(url)],
          description: [described.description, access.text].filter(Boolean).join('\n\n'),
          security: access.security,
          'x-kvalreg-access': route.config?.access ?? null,
        },
      };
    },
  });
}

// Swagger UI's files, as @fastify/swagger-ui ships them (no CDN: the page works offline and under
// the API's Content-Security-Policy, which allows scripts and styles from our own origin only).
const require = createRequire(import.meta.url);
const SWAGGER_UI_DIR = path.join(path.dirname(require.resolve('@fastify/swagger-ui/package.json')), 'static');
const DOCS_FILES = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'swagger-ui-standalone-preset.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;
type DocsFile = keyof typeof DOCS_FILES;

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>kvalreg API</title>
<link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
<link rel="stylesheet" href="${DOCS_PATH}/index.css">
<link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="${DOCS_PATH}/swagger-ui-standalone-preset.js"></script>
<script src="${DOCS_PATH}/start.js"></script>
</body>
</html>
`;
// A file of its own, not an inline script: the Content-Security-Policy allows no inline script.
const DOCS_START = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_PATH)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: 'StandaloneLayout',
});
`;

/** GET /api/openapi.json (the description) and /api/docs (the page that shows it). Public: the API's shape is no secret. */
export async function apiDocRoutes(app: FastifyInstance): Promise<void> {
  const none = z.object({});
  app.get(
    OPENAPI_PATH,
    {
      config: { access: PUBLIC },
      schema: { querystring: none, summary: 'This description: OpenAPI 3.1, generated from the routes’ schemas', tags: ['api'] },
    },
    async (_req, reply) => reply.header('cache-control', 'no-cache').send(app.swagger()),
  );
  app.get(DOCS_PATH, { config: { access: PUBLIC }, schema: { querystring: none, hide: true } }, async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(DOCS_PAGE),
  );
  app.get(
    `${DOCS_PATH}/:file`,
    {
      config: { access: PUBLIC },
      schema: {
        hide: true,
        querystring: none,
        params: z.object({ file: z.enum([...(Object.keys(DOCS_FILES) as DocsFile[]), 'start.js'], 'file: no such file of the API page') }),
      },
    },
    async (req, reply) => {
      const { file } = req.params as { file: DocsFile | 'start.js' };
      if (file === 'start.js') return reply.type('application/javascript; charset=utf-8').send(DOCS_START);
      return reply
        .type(DOCS_FILES[file])
        .header('cache-control', 'public, max-age=86400')
        .send(fs.createReadStream(path.join(SWAGGER_UI_DIR, file)));
    },
  );
}
