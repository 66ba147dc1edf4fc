#!/usr/bin/env node
// The production build (`npm run build`): everything `kvalreg serve` needs, as plain JavaScript, in
// dist/ — a folder that is a project root of its own, so that `npm ci --omit=dev` in it installs
// the production dependencies only, and `node bin/kvalreg.js serve` runs without tsx or Vite:
//   dist/src, dist/registries, dist/demo   compiled by tsc (relative .ts imports rewritten to .js)
//                                          beside their non-code files (migrations, YAML, code lists)
//   dist/instruments                       the shared PROM instruments
//   dist/web/dist                          the browser app, built here by Vite
//   dist/bin/kvalreg.js                    the command, importing the compiled CLI
//   dist/package.json, package-lock.json   the dependencies, as locked
// Plain JavaScript on purpose: it runs before anything is compiled.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist');
const log = (m) => console.log(`build: ${m}`);

fs.rmSync(out, { recursive: true, force: true });

log('compiling src/, registries/, demo/ (tsc -p tsconfig.build.json)');
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
  cwd: root,
});

/** Copies every file under `dir` that tsc does not emit (anything but .ts), keeping its path. */
function copyAssets(dir) {
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      copyAssets(rel);
      continue;
    }
    if (entry.name.endsWith('.ts')) continue;
    fs.mkdirSync(path.join(out, dir), { recursive: true });
    fs.copyFileSync(path.join(root, rel), path.join(out, rel));
  }
}
for (const dir of ['src', 'registries', 'demo', 'instruments']) if (fs.existsSync(path.join(root, dir))) copyAssets(dir);
log('copied migrations, registry declarations, code lists and instruments');

fs.mkdirSync(path.join(out, 'bin'), { recursive: true });
fs.writeFileSync(
  path.join(out, 'bin/kvalreg.js'),
  "#!/usr/bin/env node\n// The kvalreg command, compiled (npm run build): no TypeScript loader.\nawait import('../src/cli/main.js');\n",
  { mode: 0o755 },
);

// package.json as it is (npm ci checks it against the lockfile), with the scripts of a deployment.
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
pkg.scripts = { start: 'node bin/kvalreg.js serve' };
fs.writeFileSync(path.join(out, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
fs.copyFileSync(path.join(root, 'package-lock.json'), path.join(out, 'package-lock.json'));

log('building the web app (web/ → dist/web/dist)');
const { build } = await import('vite');
await build({
  configFile: path.join(root, 'web/vite.config.ts'),
  root: path.join(root, 'web'),
  logLevel: 'warn',
  build: { outDir: path.join(out, 'web/dist'), emptyOutDir: true },
});
log(`done: ${path.relative(process.cwd(), out) || '.'}/ (run it with: cd dist && npm ci --omit=dev && node bin/kvalreg.js serve)`);
