// One chart renderer and one set of level symbols, checked in Chromium: the indicator page shows the
// figures the server draws (the same SVG the PNG/PDF downloads and the PDF reports are made from),
// and the level symbols beside the words on the page are the same shapes in the same colours as
// the symbols in the server's figure (circle high, triangle moderate, square low), not glyphs of
// their own. No login: these pages are public.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { ehrBundle } from '../../registries/fracture/bundles.ts';
import { CHROMIUM_ARGS, findChromium, NO_CHROMIUM_IN_CI } from '../helpers/browser.ts';
import { fracture } from '../helpers/fixtures.ts';
import { freePort } from '../helpers/login.ts';
import { SUS_HOSPITAL, testPlatform, type TestPlatform } from '../helpers/platform.ts';

const executablePath = findChromium();
const INDICATOR = 'nfr01_time_to_treatment';
const year = String(new Date().getFullYear());

describe.skipIf(!executablePath && !process.env.CI)('figures and level symbols in the browser', () => {
  let t: TestPlatform;
  let browser: Browser;
  let site: string;

  beforeAll(async () => {
    if (!executablePath) throw new Error(NO_CHROMIUM_IN_CI);
    const port = await freePort();
    site = `http://localhost:${port}`;
    t = await testPlatform({ KVALREG_PUBLIC_URL: site });
    await t.app.listen({ port, host: '127.0.0.1' });
    for (let i = 1; i <= 9; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/fhir',
        headers: { authorization: `Bearer ${t.tokens.ehr}`, 'content-type': 'application/fhir+json' },
        payload: JSON.stringify(
          ehrBundle(fracture({ injuryDateTime: `${year}-01-0${i}T10:00:00+01:00`, firstContact: `${year}-01-0${i}T12:00:00+01:00` })),
        ),
      });
      expect(res.statusCode).toBeLessThan(300);
    }
    await t.platform.analytics.refresh();
    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: CHROMIUM_ARGS });
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows the figures the server draws on the indicator page, not charts of its own', async () => {
    const page = await browser.newPage();
    await page.goto(`${site}/indicators/${INDICATOR}?period=${year}&unit=${SUS_HOSPITAL}`);
    const compared = page.getByRole('img', { name: /alle enheter sammenlignet/ });
    const trend = page.getByRole('img', { name: /utvikling over tid/ });
    await compared.waitFor();
    await trend.waitFor();
    // Drawn by the server's renderer: the picture is the figure's SVG from the API, not a chart the page draws.
    for (const img of [compared, trend]) {
      expect(await img.evaluate((e) => e.tagName)).toBe('IMG');
      expect(await img.getAttribute('src')).toMatch(new RegExp(`/api/registries/fracture/figures/(units|trend)-${INDICATOR}\\.svg\\?`));
      expect(
        await img.evaluate(
          (e) =>
            (e as unknown as { complete: boolean; naturalWidth: number }).complete &&
            (e as unknown as { naturalWidth: number }).naturalWidth > 0,
        ),
      ).toBe(true);
    }
    await page.close();
  }, 120_000);

  it("draws the level symbols beside the words with the same shapes and colours as the figure's symbols", async () => {
    const page = await browser.newPage();
    await page.goto(`${site}/indicators/${INDICATOR}?period=${year}&unit=${SUS_HOSPITAL}`);
    await page.locator('dl.facts').waitFor();
    const svg = (
      await t.app.inject({
        method: 'GET',
        url: `/api/registries/fracture/figures/units-${INDICATOR}.svg?year=${year}&unit=${SUS_HOSPITAL}&level=hospital`,
      })
    ).body;

    // The server's figure: each level's symbol stands just before its words in the legend.
    const words = { high: 'Høy måloppnåelse', moderate: 'Moderat måloppnåelse', low: 'Lav måloppnåelse' } as const;
    for (const level of ['high', 'moderate', 'low'] as const) {
      const inFigure = new RegExp(`<(circle|path|rect)\\b[^>]*\\bfill="([^"]+)"[^>]*/><text[^>]*>${words[level]}</text>`).exec(svg);
      expect(inFigure, `the figure's legend has a symbol for ${level}`).not.toBeNull();
      // The page: the symbol beside the level's word in the definition ("Måloppnåelse: [symbol] høy > 80 %").
      const mark = page.locator(`dl.facts .level--${level}`).first();
      await mark.waitFor();
      const onPage = await mark.evaluate((e) => {
        const shape = e.querySelector('svg > circle, svg > path, svg > rect, svg > polygon');
        return shape
          ? { tag: shape.tagName.toLowerCase(), fill: shape.getAttribute('fill') }
          : { tag: null, fill: null, text: e.textContent };
      });
      expect(onPage, `the page's symbol for ${level}`).toEqual({ tag: inFigure![1], fill: inFigure![2] });
    }
    await page.close();
  }, 120_000);
});
