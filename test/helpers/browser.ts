// What the browser tests share: Debian's chromium (never a test tool's own download), logging in
// through the local OpenID provider's own page, an axe scan (WCAG 2.1 A/AA; serious and critical
// violations fail), and screenshots for docs/ when KVALREG_SCREENSHOTS=1.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';

export function findChromium(): string | null {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim() || null;
    } catch {
      /* next */
    }
  }
  return null;
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-dev-shm-usage'];
export const NO_CHROMIUM_IN_CI = 'CI is set but no chromium was found: .ci/run installs it (apt-get install chromium).';

const SHOTS = process.env.KVALREG_SCREENSHOTS === '1' ? path.resolve(import.meta.dirname, '../../docs/screenshots') : null;

export async function screenshot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  // The whole page, up to a height that keeps the files small (the explanation list can be long).
  const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
  const width = page.viewportSize()?.width ?? 1280;
  await page.screenshot({
    path: path.join(SHOTS, `${name}.png`),
    fullPage: true,
    clip: { x: 0, y: 0, width, height: Math.min(height, 2400) },
  });
}

/** axe over the whole page: WCAG 2.1 A and AA rules; serious and critical violations fail. */
export async function scan(page: Page, name: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(
    bad.map(
      (v) =>
        `${name}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes
          .slice(0, 3)
          .map((n) => n.target.join(' '))
          .join(' | ')}`,
    ),
  ).toEqual([]);
}

/** Logs in at `site` as a demo account (password "demo") through the provider's login page. */
export async function logIn(browser: Browser, site: string, username: string) {
  const context = await browser.newContext({ locale: 'nb-NO', timezoneId: 'Europe/Oslo', viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(site);
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel('Brukernavn / Username').fill(username);
  await page.getByLabel('Passord / Password').fill('demo');
  await page.getByRole('button', { name: 'Logg inn' }).click();
  await page.waitForURL(`${site}/`);
  await page.getByText('Logget inn som').waitFor();
  return { context, page };
}

/** Chooses in a searchable combobox (units, codes): types `text` and clicks the option whose name matches `option`. */
export async function choose(page: Page, label: string, text: string, option: RegExp | string = text): Promise<void> {
  const input = page.getByRole('combobox', { name: label, exact: true });
  await input.click();
  await input.fill(text);
  await page.getByRole('option', { name: option }).first().click();
}
