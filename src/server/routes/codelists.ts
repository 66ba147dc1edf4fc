// Open metadata for choosing a code: a hierarchical classification as a tree with its words and
// the registry's schematic pictures (the picker walks skeleton → bone → segment → type → group →
// subgroup), and a look-up of one code that answers an older version's code with the current one.
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery, registryParams } from '../schemas.ts';
import type { RouteOptions } from './plugin.ts';
import { picturePath } from '../../registry/code-tree.ts';
import { currentCodeFor } from '../../registry/values.ts';
import { PUBLIC } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function codeListRoutes(fastify: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const listParams = registryParams.extend({ list: z.string().min(1).describe('The code list’s id.') });
  const listOf = (registryId: string, listId: string) => {
    const r = platform.registry(registryId);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${registryId}".`, { code: 'registry.unknown' });
    const list = r.codelists.get(listId);
    if (!list) throw new KvalregError('not-found', `Registry ${r.id} has no code list "${listId}".`, { code: 'not.found' });
    return { r, list };
  };

  app.get(
    '/api/registries/:id/codelists/:list/tree',
    { config: { access: PUBLIC }, schema: { summary: 'A hierarchical code list as a tree', params: listParams, querystring: noQuery } },
    async (req, reply) => {
      const { list } = listOf(req.params.id, req.params.list);
      if (!list.tree)
        throw new KvalregError(
          'not-found',
          `Code list ${list.id} is not hierarchical; GET /api/registries/${req.params.id}/codebook lists its codes.`,
          { code: 'not.found' },
        );
      return reply.header('cache-control', 'public, max-age=3600').send({ id: list.id, title: list.title, ...list.tree });
    },
  );

  app.get(
    '/api/registries/:id/codelists/:list/pictures/:file',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'A schematic picture of the code picker (SVG)',
        params: listParams.extend({ file: z.string() }),
        querystring: noQuery,
      },
    },
    async (req, reply) => {
      const { list } = listOf(req.params.id, req.params.list);
      const file = list.tree && list.pickerDir ? picturePath(list.tree, list.pickerDir, req.params.file) : undefined;
      if (!file) throw new KvalregError('not-found', `No picture "${req.params.file}" for code list ${list.id}.`, { code: 'not.found' });
      return reply.header('cache-control', 'public, max-age=3600').type('image/svg+xml; charset=utf-8').send(fs.readFileSync(file, 'utf8'));
    },
  );

  // ?code=23A2.1 → { valid: false, suggestion: "2R3A2.1" }: what a code means, or what it became.
  app.get(
    '/api/registries/:id/codelists/:list/lookup',
    {
      config: { access: PUBLIC },
      schema: {
        summary: 'What a code means, or what an older version’s code became',
        params: listParams,
        querystring: z.object({ code: z.string('Give code=<a code>.').trim().min(1, 'Give code=<a code>.') }),
        response: {
          200: z.object({
            code: z.string(),
            valid: z.boolean(),
            display: z.unknown().optional(),
            suggestion: z.string().optional(),
            suggestionDisplay: z.unknown().optional(),
          }),
        },
      },
    },
    async (req) => {
      const { r, list } = listOf(req.params.id, req.params.list);
      const code = req.query.code;
      const display = list.codes.get(code);
      if (display) return { code, valid: true, display };
      const suggestion = currentCodeFor(r, list.id, code);
      return { code, valid: false, ...(suggestion ? { suggestion, suggestionDisplay: list.codes.get(suggestion) } : {}) };
    },
  );
}
