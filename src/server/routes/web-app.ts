// The browser app (web/, built by Vite into web/dist): static files, and index.html for every
// page path so the app's own router takes over. API, FHIR and login paths never fall through to it.
import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { KvalregError } from '../../errors.ts';
import { WEB_DIST } from '../web-build.ts';
import { PUBLIC } from '../access-policy.ts';

export interface WebAppOptions {
  /** Where the built app is (web/dist unless told). */
  dist?: string;
}

export async function webAppRoutes(app: FastifyInstance, { dist = WEB_DIST }: WebAppOptions): Promise<void> {
  await app.register(fastifyStatic, { root: dist, serve: false });
  const built = () => fs.existsSync(path.join(dist, 'index.html'));

  app.get<{ Params: { '*': string } }>('/assets/*', { config: { access: PUBLIC } }, async (req, reply) => {
    const file = req.params['*'];
    if (!built() || !fs.existsSync(path.join(dist, 'assets', path.normalize(file).replace(/^(\.\.[/\\])+/, '')))) {
      throw new KvalregError('not-found', `No such file: /assets/${file}`);
    }
    // Built file names carry a content hash: they never change.
    return reply.header('cache-control', 'public, max-age=31536000, immutable').sendFile(path.join('assets', file));
  });

  const page = async (req: { url: string }, reply: any) => {
    const url = req.url.split('?')[0];
    // Answered by the error handler: an OperationOutcome under /fhir, a JSON problem elsewhere.
    if (url.startsWith('/fhir')) throw new KvalregError('not-found', `No FHIR endpoint at ${url}. See GET /fhir/metadata.`);
    if (url.startsWith('/api/') || url.startsWith('/auth/') || url === '/api')
      throw new KvalregError('not-found', `No such endpoint: ${url}. The API is described in docs/.`);
    // A file name ends in a short extension; a page path may hold a dot too (the PROM form's link
    // token, /prom/<id>.<signature>), and goes to the app.
    if (/^\.[A-Za-z0-9]{1,8}$/.test(path.extname(url))) {
      const file = path.join(dist, path.normalize(url).replace(/^(\.\.[/\\])+/, ''));
      if (file.startsWith(dist) && fs.existsSync(file) && fs.statSync(file).isFile()) return reply.sendFile(path.relative(dist, file));
      throw new KvalregError('not-found', `No such file: ${url}`);
    }
    if (!built())
      throw new KvalregError(
        'unavailable',
        'The web app is not built. Run `npm run build:web` (npm start and npm test build it when missing).',
      );
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  };
  app.get('/', { config: { access: PUBLIC } }, page);
  app.get('/*', { config: { access: PUBLIC } }, page);
}
