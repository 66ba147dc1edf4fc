// src/ is the platform, not a registry: it must not name a registry, nor any registry's
// classifications and scores. Registry knowledge lives in registries/<id>/; the platform's demo
// (one registry's synthetic traffic) lives in demo/. Code is checked entirely (string literals
// included); a comment may name a registry only as a plain example ("e.g.", "for example", "such as").
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const files = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? files(path.join(dir, d.name)) : /\.(ts|sql)$/.test(d.name) ? [path.join(dir, d.name)] : []));

// Every registry's id and short name, and the classifications and scores registries use.
const registryNames = fs
  .readdirSync('registries', { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => {
    const yaml = fs.readFileSync(path.join('registries', d.name, 'registry.yaml'), 'utf8');
    return [d.name, /^short:\s*(\S+)/m.exec(yaml)?.[1]].filter((x): x is string => Boolean(x));
  });
const NAMES = new RegExp(
  `\\b(${[...registryNames, 'fractures?', 'traumas?', 'brudd', 'frakturregister\\w*', 'traumeregister\\w*', 'hoftebrudd\\w*', 'AO[/_ -]?OTA\\w*'].join('|')})\\b`,
  'i',
);
const ACRONYMS = /\b(AIS|N?ISS|RTS|TRISS)\b/; // in capitals only: iss() in code is caught by its registry's name, not here
const EXAMPLE = /\be\.g\.|\bfor example\b|\bsuch as\b|\bsay\b|\bf\.eks\./i;

/** The comments and the code of a TypeScript file, apart. */
function split(file: string): { comments: Array<{ line: number; text: string }>; code: Array<{ line: number; text: string }> } {
  const text = fs.readFileSync(file, 'utf8');
  if (file.endsWith('.sql')) {
    const lines = text.split('\n').map((l, i) => ({ line: i + 1, l }));
    return {
      comments: lines.filter((x) => x.l.includes('--')).map((x) => ({ line: x.line, text: x.l.slice(x.l.indexOf('--')) })),
      code: lines.map((x) => ({ line: x.line, text: x.l.split('--')[0] })),
    };
  }
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  const scanner = ts.createScanner(ts.ScriptTarget.Latest, false, ts.LanguageVariant.Standard, text);
  const comments: Array<{ line: number; text: string }> = [],
    code: Array<{ line: number; text: string }> = [];
  // Braces are tracked so that the text of a template literal after `${…}` is scanned as text.
  const braces: Array<'brace' | 'template'> = [];
  for (let kind = scanner.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scanner.scan()) {
    if (kind === ts.SyntaxKind.CloseBraceToken && braces.pop() === 'template') {
      kind = scanner.reScanTemplateToken(false);
      if (kind === ts.SyntaxKind.TemplateMiddle) braces.push('template');
    } else if (kind === ts.SyntaxKind.OpenBraceToken) braces.push('brace');
    else if (kind === ts.SyntaxKind.TemplateHead) braces.push('template');
    const line = source.getLineAndCharacterOfPosition(scanner.getTokenStart()).line + 1;
    const tokenText = scanner.getTokenText();
    if (kind === ts.SyntaxKind.SingleLineCommentTrivia || kind === ts.SyntaxKind.MultiLineCommentTrivia) {
      tokenText.split('\n').forEach((t, i) => comments.push({ line: line + i, text: t }));
    } else code.push({ line, text: tokenText });
  }
  return { comments, code };
}

const offends = (t: string) => NAMES.exec(t)?.[0] ?? ACRONYMS.exec(t)?.[0] ?? null;

it('names no registry, classification or score in the code of src/', () => {
  const found: string[] = [];
  for (const f of files('src')) {
    for (const { line, text } of split(f).code) {
      const hit = offends(text);
      if (hit) found.push(`${f}:${line}: "${hit}" in ${text.trim().slice(0, 100)}`);
    }
  }
  expect(found).toEqual([]);
});

it('names a registry in the comments of src/ only as a plain example', () => {
  const found: string[] = [];
  for (const f of files('src')) {
    // Applied migrations are history: their comments are not rewritten (their SQL is checked above).
    if (f.endsWith('.sql')) continue;
    for (const { line, text } of split(f).comments) {
      const hit = offends(text);
      if (hit && !EXAMPLE.test(text)) found.push(`${f}:${line}: "${hit}" in ${text.trim().slice(0, 100)}`);
    }
  }
  expect(found).toEqual([]);
});

it('would catch a registry named in src/ (the check itself can fail)', () => {
  expect(offends("platform.registry('fracture')")).toBe('fracture');
  expect(offends('const x = iss(codes) // ISS')).toBe('ISS');
  expect(offends('`may give NISS > ${n}`')).toBe('NISS');
  expect(offends('a mission to do this')).toBeNull();
  expect(EXAMPLE.test('// a trauma registry, say')).toBe(true);
});
