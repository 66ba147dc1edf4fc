// Builds the browser app with Vite when the build is missing or older than its sources: `npm start`
// and `npm test` work on a clean clone after `npm ci` alone. The build records a hash of every
// source file (and the lockfile); a different hash means a new build.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config.ts';

export const WEB_ROOT = path.join(projectRoot(), 'web');
export const WEB_DIST = path.join(WEB_ROOT, 'dist');
const STAMP = '.source-hash';

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.name !== 'node_modules' && !d.name.startsWith('dist') && !d.name.startsWith('.build-'))
    .flatMap((d) => (d.isDirectory() ? sources(path.join(dir, d.name)) : [path.join(dir, d.name)]))
    .sort();
}

export function webSourceHash(): string {
  const h = crypto.createHash('sha256');
  for (const f of [...sources(WEB_ROOT), path.join(projectRoot(), 'package-lock.json')]) {
    h.update(path.relative(projectRoot(), f)).update('\0').update(fs.readFileSync(f)).update('\0');
  }
  return h.digest('hex');
}

export function webBuildIsCurrent(): boolean {
  try {
    return fs.readFileSync(path.join(WEB_DIST, STAMP), 'utf8') === webSourceHash();
  } catch {
    return false;
  }
}

/**
 * Running the compiled build (`npm run build`, dist/): the web app was built with it, and Vite (a
 * development dependency) is not installed in production, so nothing is built at start.
 */
export const COMPILED = import.meta.url.endsWith('.js');

/** Builds web/ into web/dist unless the build is current; returns whether it built. */
export async function ensureWebBuild(opts: { force?: boolean; log?: (msg: string) => void } = {}): Promise<boolean> {
  if (COMPILED) {
    if (fs.existsSync(path.join(WEB_DIST, 'index.html'))) return false;
    throw new Error(
      `The web app is missing from this build (${WEB_DIST}): build with \`npm run build\`, which builds it into dist/web/dist.`,
    );
  }
  if (!opts.force && webBuildIsCurrent()) return false;
  const hash = webSourceHash();
  opts.log?.('Building the web app (web/ → web/dist) …');
  const { build } = await import('vite');
  // Built beside the old one and swapped in, so a server never serves half a build.
  const tmp = path.join(WEB_ROOT, `.build-${process.pid}-${Date.now()}`);
  try {
    await build({
      configFile: path.join(WEB_ROOT, 'vite.config.ts'),
      root: WEB_ROOT,
      logLevel: 'warn',
      build: { outDir: tmp, emptyOutDir: true },
    });
    fs.writeFileSync(path.join(tmp, STAMP), hash);
    const old = `${WEB_DIST}.old-${process.pid}`;
    if (fs.existsSync(WEB_DIST)) fs.renameSync(WEB_DIST, old);
    fs.renameSync(tmp, WEB_DIST);
    fs.rmSync(old, { recursive: true, force: true });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return true;
}
