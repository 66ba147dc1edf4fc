// Open metadata for choosing a code: a hierarchical classification as a tree with its words and
// the registry's schematic pictures (the picker walks skeleton → bone → segment → type → group →
// subgroup), and a look-up of one code that answers an older version's code with the current one.
import fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { RouteOptions } from './plugin.ts';
import { picturePath } from '../../registry/code-tree.ts';
import { currentCodeFor } from '../../registry/values.ts';
import { PUBLIC } from '../access-policy.ts';
import { KvalregError } from '../../errors.ts';

export async function codeListRoutes(app: FastifyInstance, { platform }: RouteOptions): Promise<void> {
  const listOf = (registryId: string, listId: string) => {
    const r = platform.registry(registryId);
    if (!r) throw new KvalregError('not-found', `Unknown registry "${registryId}".`, { code: 'registry.unknown' });
    const list = r.codelists.get(listId);
    if (!list) throw new KvalregError('not-found', `Registry ${r.id} has no code list "${listId}".`, { code: 'not.found' });
    return { r, list };
  };

  app.get<{ Params: { id: string; list: string } }>(
    '/api/registries/:id/codelists/:list/tree',
    { config: { access: PUBLIC } },
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

  app.get<{ Params: { id: string; list: string; file: string } }>(
    '/api/registries/:id/codelists/:list/pictures/:file',
    { config: { access: PUBLIC } },
    async (req, reply) => {
      const { list } = listOf(req.params.id, req.params.list);
      const file = list.tree && list.pickerDir ? picturePath(list.tree, list.pickerDir, req.params.file) : undefined;
      if (!file) throw new KvalregError('not-found', `No picture "${req.params.file}" for code list ${list.id}.`, { code: 'not.found' });
      return reply.header('cache-control', 'public, max-age=3600').type('image/svg+xml; charset=utf-8').send(fs.readFileSync(file, 'utf8'));
    },
  );

  // ?code=23A2.1 → { valid: false, suggestion: "2R3A2.1" }: what a code means, or what it became.
  app.get<{ Params: { id: string; list: string }; Querystring: { code?: string } }>(
    '/api/registries/:id/codelists/:list/lookup',
    { config: { access: PUBLIC } },
    async (req) => {
      const { r, list } = listOf(req.params.id, req.params.list);
      const code = String(req.query.code ?? '').trim();
      if (!code) throw new KvalregError('invalid', 'Give code=<a code>.', { code: 'request.invalid' });
      const display = list.codes.get(code);
      if (display) return { code, valid: true, display };
      const suggestion = currentCodeFor(r, list.id, code);
      return { code, valid: false, ...(suggestion ? { suggestion, suggestionDisplay: list.codes.get(suggestion) } : {}) };
    },
  );
}
