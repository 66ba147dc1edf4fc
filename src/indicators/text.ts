// An indicator's definition as readable text ("Teller: …", "Nevner: …") for reports and the web
// app, generated from its expressions with the codebook's labels and code displays. A registry that
// wants other wording declares `text` on the indicator, and that is used instead.
import type jsep from 'jsep';
import { parseExpression } from '../registry/expr.ts';
import type { Registry } from '../registry/load.ts';
import { analyticsColumns } from '../analytics/columns.ts';
import type { Indicator } from './load.ts';

export type Lang = 'nb' | 'en';

const WORDS = {
  nb: {
    and: 'og',
    or: 'eller',
    not: 'ikke',
    is: 'er',
    isNot: 'er ikke',
    oneOf: 'er en av',
    registered: 'er registrert',
    missing: 'mangler',
    yes: 'ja',
    no: 'nei',
    under: 'under',
    atMost: 'høyst',
    over: 'over',
    atLeast: 'minst',
    equals: 'er',
    differs: 'er ikke',
    days: 'dager fra',
    hours: 'timer fra',
    years: 'hele år fra',
    to: 'til',
    today: 'beregningsdatoen',
    whenUnknown: 'når ukjent regnes som',
    if: 'hvis',
    then: 'så',
    else: 'ellers',
    count: 'Antall',
    where: 'der',
    plus: 'pluss',
    numerator: 'Teller',
    denominator: 'Nevner',
    population: 'Populasjon',
    exclusions: 'Unntatt',
    cases: 'registreringer',
    patients: 'pasienter',
    countedOnce: 'hver pasient telles én gang',
    eventOnce: 'hver hendelse telles én gang',
    summedOver: 'summert over',
  },
  en: {
    and: 'and',
    or: 'or',
    not: 'not',
    is: 'is',
    isNot: 'is not',
    oneOf: 'is one of',
    registered: 'is recorded',
    missing: 'is missing',
    yes: 'yes',
    no: 'no',
    under: 'under',
    atMost: 'at most',
    over: 'over',
    atLeast: 'at least',
    equals: 'is',
    differs: 'is not',
    days: 'days from',
    hours: 'hours from',
    years: 'whole years from',
    to: 'to',
    today: 'the computation date',
    whenUnknown: 'counted as, when unknown,',
    if: 'if',
    then: 'then',
    else: 'otherwise',
    count: 'Number of',
    where: 'where',
    plus: 'plus',
    numerator: 'Numerator',
    denominator: 'Denominator',
    population: 'Population',
    exclusions: 'Except',
    cases: 'cases',
    patients: 'patients',
    countedOnce: 'each patient counted once',
    eventOnce: 'each event counted once',
    summedOver: 'summed over',
  },
} as const;

export function renderExpression(source: string, registry: Registry, lang: Lang): string {
  const w = WORDS[lang];
  const cols = new Map(analyticsColumns(registry).map((c) => [c.name, c]));
  // Mid-sentence words start in lower case, abbreviations (AO, CT) stay as they are.
  const lower = (s: string) => (/^[A-ZÆØÅ][a-zæøå]/.test(s) ? s.charAt(0).toLowerCase() + s.slice(1) : s);
  const label = (name: string) => lower(cols.get(name)?.label[lang] ?? name);
  const display = (variable: string | null, code: unknown): string => {
    if (typeof code === 'boolean') return code ? w.yes : w.no;
    const list = variable ? cols.get(variable)?.codelist : undefined;
    const d = list ? registry.codelists.get(list)?.codes.get(String(code)) : undefined;
    return d ? lower(d[lang]) : String(code);
  };
  const varOf = (n: jsep.Expression) =>
    n.type === 'Identifier' && cols.has((n as jsep.Identifier).name) ? (n as jsep.Identifier).name : null;
  const isNull = (n: jsep.Expression) =>
    (n.type === 'Identifier' && (n as jsep.Identifier).name === 'null') || (n.type === 'Literal' && (n as jsep.Literal).value === null);
  const r = (n: jsep.Expression, parent?: string): string => {
    switch (n.type) {
      case 'Literal':
        return display(null, (n as jsep.Literal).value);
      case 'Identifier': {
        const name = (n as jsep.Identifier).name;
        if (name === 'true') return w.yes;
        if (name === 'false') return w.no;
        return label(name);
      }
      case 'UnaryExpression': {
        const u = n as jsep.UnaryExpression;
        return u.operator === '-' ? `-${r(u.argument)}` : `${w.not} (${r(u.argument)})`;
      }
      case 'ConditionalExpression': {
        const c = n as jsep.ConditionalExpression;
        return `${w.if} ${r(c.test)} ${w.then} ${r(c.consequent)}, ${w.else} ${r(c.alternate)}`;
      }
      case 'CallExpression': {
        const c = n as jsep.CallExpression;
        const name = (c.callee as jsep.Identifier).name;
        const a = c.arguments;
        switch (name) {
          case 'present':
            return `${r(a[0])} ${w.registered}`;
          case 'missing':
            return `${r(a[0])} ${w.missing}`;
          case 'days':
            return `${w.days} ${r(a[0])} ${w.to} ${r(a[1])}`;
          case 'hours':
            return `${w.hours} ${r(a[0])} ${w.to} ${r(a[1])}`;
          case 'years':
            return `${w.years} ${r(a[0])} ${w.to} ${r(a[1])}`;
          case 'today':
            return w.today;
          case 'coalesce':
            return `${r(a[0])} (${w.whenUnknown} ${r(a[1])})`;
          default:
            return `${name}(${a.map((x) => r(x)).join(', ')})`;
        }
      }
      case 'BinaryExpression': {
        const b = n as jsep.BinaryExpression;
        const op = b.operator;
        if (op === '&&' || op === 'and' || op === '||' || op === 'or') {
          const word = op === '&&' || op === 'and' ? w.and : w.or;
          const text = `${r(b.left, word)} ${word} ${r(b.right, word)}`;
          return parent && parent !== word ? `(${text})` : text;
        }
        if ((op === '==' || op === '!=') && (isNull(b.left) || isNull(b.right))) {
          const other = isNull(b.left) ? b.right : b.left;
          return `${r(other)} ${op === '==' ? w.missing : w.registered}`;
        }
        const v = varOf(b.left);
        if (op === 'in' && b.right.type === 'ArrayExpression') {
          const items = (b.right as jsep.ArrayExpression).elements.map((e) => display(v, (e as jsep.Literal).value));
          return `${r(b.left)} ${w.oneOf} ${items.join(', ')}`;
        }
        const right = b.right.type === 'Literal' ? display(v, (b.right as jsep.Literal).value) : r(b.right);
        const words: Record<string, string> = {
          '==': w.equals,
          '===': w.equals,
          '!=': w.differs,
          '!==': w.differs,
          '<': w.under,
          '<=': w.atMost,
          '>': w.over,
          '>=': w.atLeast,
        };
        return `${r(b.left)} ${words[op] ?? op} ${right}`;
      }
      default:
        return '';
    }
  };
  return r(parseExpression(source));
}

export interface DefinitionText {
  numerator: string;
  denominator: string;
  population?: string;
  exclusions?: string;
}

/** "Teller: …" and "Nevner: …" in the language asked for. */
export function definitionText(ind: Indicator, registry: Registry, lang: Lang): DefinitionText | null {
  if (ind.parts.length === 0) return null;
  const w = WORDS[lang];
  const noun = ind.def.countBy === 'patient' ? w.patients : (registry.meta.caseName?.[lang] ?? w.cases);
  const once = ind.def.countBy === 'patient' ? ` (${w.countedOnce})` : ind.def.countBy === 'event' ? ` (${w.eventOnce})` : '';
  const population = ind.def.population ? renderExpression(ind.def.population, registry, lang) : undefined;
  const exclusions = ind.def.exclusions ? renderExpression(ind.def.exclusions, registry, lang) : undefined;
  if (ind.def.text) return { numerator: ind.def.text.numerator[lang], denominator: ind.def.text.denominator[lang], population, exclusions };
  const term = (den: string, num?: string) =>
    `${w.count} ${noun} ${w.where} ${renderExpression(den, registry, lang)}${num ? ` ${w.and} ${renderExpression(num, registry, lang)}` : ''}`;
  // A counted numerator: "Number of <what is counted>, summed over <cases> where …".
  const counted = (den: string, num: string) =>
    `${w.count} ${renderExpression(ind.def.numeratorCount!, registry, lang)}, ${w.summedOver} ${noun} ${w.where} ${renderExpression(den, registry, lang)} ${w.and} ${renderExpression(num, registry, lang)}`;
  return {
    numerator:
      ind.parts
        .map((p) => (ind.def.numeratorCount ? counted(p.denominator, p.numerator) : term(p.denominator, p.numerator)))
        .join(`, ${w.plus} `) +
      once +
      '.',
    denominator: ind.parts.map((p) => term(p.denominator)).join(`, ${w.plus} `) + once + '.',
    population,
    exclusions,
  };
}

/** The whole definition as lines for a report. */
export function definitionLines(ind: Indicator, registry: Registry, lang: Lang): string[] {
  const w = WORDS[lang];
  const t = definitionText(ind, registry, lang);
  if (!t) return [];
  return [
    `${w.numerator}: ${t.numerator}`,
    `${w.denominator}: ${t.denominator}`,
    ...(t.population ? [`${w.population}: ${t.population}.`] : []),
    ...(t.exclusions ? [`${w.exclusions}: ${t.exclusions}.`] : []),
  ];
}
