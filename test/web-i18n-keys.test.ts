// The web app's dictionaries are put together from parts (i18n-prom.ts spread into i18n.tsx). A key
// defined in two parts is not a type error: the later one silently wins, and a page shows another
// page's words (the PROM results page once retitled the patient's form). Every key is defined once.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { promEn, promNb } from '../web/src/i18n-prom.ts';
import { workbenchEn, workbenchNb } from '../web/src/i18n-workbench.ts';

/** The keys written literally in one dictionary object of i18n.tsx (`const nb = {…}` / `const en: … = {…}`). */
function keysOf(source: string, start: RegExp): string[] {
  const at = source.search(start);
  expect(at, `${start} in i18n.tsx`).toBeGreaterThanOrEqual(0);
  const end = source.indexOf('\n}', at);
  const body = source.slice(at, end);
  return [...body.matchAll(/^\s*'([^']+)':/gm)].map((m) => m[1]);
}

it('no key of the web app is defined twice (within i18n.tsx or in a part spread into it)', () => {
  const source = fs.readFileSync(path.resolve('web/src/i18n.tsx'), 'utf8');
  for (const [name, start, part, workbench] of [
    ['nb', /^const nb = \{/m, promNb, workbenchNb],
    ['en', /^const en: [^=]+= \{/m, promEn, workbenchEn],
  ] as const) {
    const own = keysOf(source, start);
    expect(own.length, `keys of ${name}`).toBeGreaterThan(100);
    const twice = own.filter((k, i) => own.indexOf(k) !== i);
    expect(twice, `${name}: keys written twice in i18n.tsx`).toEqual([]);
    expect(
      own.filter((k) => k in part),
      `${name}: keys of i18n-prom.ts redefined in i18n.tsx`,
    ).toEqual([]);
    expect(
      own.filter((k) => k in workbench),
      `${name}: keys of i18n-workbench.ts redefined in i18n.tsx`,
    ).toEqual([]);
    expect(
      Object.keys(part).filter((k) => k in workbench),
      `${name}: keys in both i18n-prom.ts and i18n-workbench.ts`,
    ).toEqual([]);
  }
});
