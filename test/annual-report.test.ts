// The annual report for the demo year, read back page by page (unpdf, the PDF's own text): the
// report template's sections in order, every indicator with its definition, one numbered figure per
// indicator with results and per declared analysis, the stage-assessment table, page numbering in
// the footer; and how long it took to make, printed.
import { extractText } from 'unpdf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/cli/demo.ts';
import { freePort } from './helpers/login.ts';
import { testPlatform, type TestPlatform } from './helpers/platform.ts';

let t: TestPlatform;
const year = String(new Date().getFullYear() - 1);

beforeAll(async () => {
  t = await testPlatform();
  const port = await freePort();
  await t.app.listen({ port, host: '127.0.0.1' });
  // The demo: one year of fractures through the real FHIR API, the last full year included.
  const demo = await runDemo(t.platform, `http://127.0.0.1:${port}`, { years: 2, scale: 0.1, seed: 11, concurrency: 2, rate: [] });
  expect(demo.failed).toBe(0);
  await t.platform.analytics.refresh();
}, 600_000);
afterAll(async () => {
  await t?.close();
});

describe('the annual report for the demo year', () => {
  it("has the template's sections, every indicator, a numbered figure for each result and analysis, and numbered pages", async () => {
    const registry = t.platform.registry('fracture')!;
    const started = performance.now();
    const pdf = await t.platform.reports.annual(registry, year, { dataset: 'fresh' });
    const ms = performance.now() - started;
    console.log(`annual report ${year}: ${(pdf.length / 1024).toFixed(0)} KiB in ${(ms / 1000).toFixed(1)} s`);

    const { totalPages, text } = await extractText(new Uint8Array(pdf), { mergePages: false });
    const pages = text as string[];
    expect(totalPages).toBeGreaterThanOrEqual(10);
    // Every page carries "<registry> – <n> / <total>" in its footer.
    pages.forEach((p, i) => expect(p.replace(/\s+/g, ' ')).toContain(`${i + 1} / ${totalPages}`));
    const all = pages.join('\n').replace(/\s+/g, ' ');

    expect(pages[0]).toContain('Norsk frakturregister');
    expect(pages[0]).toContain(`Årsrapport for ${year}`);
    const sections = [
      '1 Sammendrag',
      '2 Resultater',
      '2.1 Kvalitetsindikatorer',
      '2.2 Pasientrapporterte data',
      '2.3 Andre analyser',
      '3 Registerbeskrivelse',
      '4 Datakvalitet',
    ];
    const at = sections.map((s) => all.indexOf(s));
    expect(
      at.every((i) => i > 0),
      `sections found at ${at}`,
    ).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(all).toMatch(/Stadievurdering|stadium/i);

    // Every indicator, active or pending, with its computation or "definition pending".
    const inds = t.platform.indicators.list('fracture');
    for (const ind of inds) expect(all, ind.def.id).toContain(ind.def.title.nb.replace(/\s+/g, ' '));
    expect(all).toContain('Teller');
    expect(all).toContain('Nevner');
    expect(all).toContain('Definisjonen kommer; indikatoren beregnes ikke ennå.');

    // Figures: one per active indicator with cases in its denominator nationally (a result, or too few to show), one per declared analysis,
    // numbered 1, 2, 3 … in order.
    const national = await t.platform.indicators.results(registry, {
      grain: 'year',
      period: year,
      units: [t.platform.indicators.nation()],
      dataset: 'fresh',
    });
    const withResults = inds.filter(
      (i) =>
        i.def.status === 'active' &&
        national.some((r) => r.indicator === i.def.id && r.stratifier === '' && (r.status === 'ok' || r.status === 'too-few')),
    ).length;
    const analyses = t.platform.reports.figures.analysesOf(registry).list.length;
    const numbers = [...all.matchAll(/Figur (\d+):/g)].map((m) => Number(m[1]));
    expect(withResults).toBeGreaterThan(5);
    expect(numbers).toEqual(Array.from({ length: withResults + analyses }, (_, k) => k + 1));
    for (const a of t.platform.reports.figures.analysesOf(registry).list) expect(all).toContain(a.reference!);
  }, 300_000);
});
