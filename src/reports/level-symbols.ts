// The achievement-level symbols, defined once for every place they are drawn: the server's figures
// (SVG, PNG, PDF) and the web app's tables and legends import this module, so a level looks the same
// on screen, in a downloaded PNG and in a PDF report. Shapes as well as colours (circle = high,
// triangle = moderate, square = low), so the level is not told by colour alone.
// Pure string building, no Node or browser API: the web app bundles it as it is.

export type Level = 'high' | 'moderate' | 'low';

/** Okabe–Ito colour-blind-safe colours, the same as the figures' palette. */
export const LEVEL_COLOURS: Record<Level, string> = { high: '#009E73', moderate: '#E69F00', low: '#D55E00' };
export const LEVEL_SHAPES: Record<Level, 'circle' | 'triangle' | 'square'> = { high: 'circle', moderate: 'triangle', low: 'square' };
/** For plain text (terminal output): the glyphs of the same shapes. */
export const LEVEL_GLYPHS: Record<Level, string> = { high: '●', moderate: '▲', low: '■' };

const f = (n: number) => n.toFixed(1);

/** The symbol as an SVG element centred on (x, y), radius r. */
export function levelSymbol(level: Level, x: number, y: number, r = 5): string {
  const fill = LEVEL_COLOURS[level];
  const stroke = 'stroke="#222" stroke-width="0.8"';
  if (level === 'high') return `<circle cx="${f(x)}" cy="${f(y)}" r="${r}" fill="${fill}" ${stroke}/>`;
  if (level === 'moderate')
    return `<path d="M${f(x)},${f(y - r)} L${f(x + r)},${f(y + r * 0.8)} L${f(x - r)},${f(y + r * 0.8)} Z" fill="${fill}" ${stroke}/>`;
  return `<rect x="${f(x - r * 0.85)}" y="${f(y - r * 0.85)}" width="${f(r * 1.7)}" height="${f(r * 1.7)}" fill="${fill}" ${stroke}/>`;
}

/** The symbol as a small stand-alone SVG icon (for text: tables, legends), decorative (the word is beside it). */
export function levelIcon(level: Level, size = 12): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 12 12" aria-hidden="true" focusable="false" class="level-symbol" data-shape="${LEVEL_SHAPES[level]}">${levelSymbol(level, 6, 6.4, 5)}</svg>`;
}
