// Person-level data is reached only through the data-access door (src/access/door.ts): routes,
// the CLI and the demo never query person-level tables themselves, and every module that does
// takes a transaction from the door.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

const PERSON_TABLES = [
  'person',
  'registry_case',
  'case_form',
  'value_history',
  'source_resource',
  'inbox_message',
  'routing_decision',
  'reservation',
];
const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? files(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : []));
const sqlOn = (text: string) => PERSON_TABLES.filter((t) => new RegExp(`\\b(FROM|JOIN|INTO|UPDATE)\\s+${t}\\b`, 'i').test(text));

it('keeps SQL on person-level tables out of routes, the CLI and the demo', () => {
  const offenders = ['src/server', 'src/cli', 'demo']
    .flatMap(files)
    .map((f) => ({ f, tables: sqlOn(fs.readFileSync(f, 'utf8')) }))
    .filter((x) => x.tables.length);
  expect(offenders).toEqual([]);
});

it('lets only modules that work inside a door transaction touch person-level tables', () => {
  // The door itself (src/access/door.ts) is the one place that opens transactions on the pool.
  const touching = files('src').filter((f) => sqlOn(fs.readFileSync(f, 'utf8')).length && !f.endsWith(path.join('access', 'door.ts')));
  for (const f of touching) {
    if (f.includes(`${path.sep}db${path.sep}`) || f.includes(`${path.sep}server${path.sep}`) || f.includes(`${path.sep}cli${path.sep}`))
      continue;
    const text = fs.readFileSync(f, 'utf8');
    // Each such module receives a PersonTx (or a client handed out by one) rather than a pool.
    expect(/PersonTx|PersonData|Queryable/.test(text), `${f} touches person-level tables without the door`).toBe(true);
    expect(/\bpool\.(query|connect)\b/.test(text), `${f} uses the pool directly`).toBe(false);
  }
});
