// A hierarchical classification as a tree a person can walk: bone → segment → type → group →
// subgroup (the `hierarchical-groups` code-list format), each with its words, and the pictures the
// registry draws for it (a code list's `picker` file: the skeleton, one picture per bone showing its
// segments, and pictures and words for the types of given segments). Types are not listed in the
// format: a type is its groups' common code ("2R3A2" → "2R3A"), named by the registry's picker file
// or, failing that, by what its groups' names have in common.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { text, type Text } from './schema.ts';

export interface CodeTreeGroup {
  code: string;
  name: Text;
  subgroups: string[];
}
export interface CodeTreeType {
  code: string;
  letter: string;
  name: Text;
  picture: string | null;
  groups: CodeTreeGroup[];
}
export interface CodeTreeSegment {
  code: string;
  name: Text;
  types: CodeTreeType[];
}
export interface CodeTreeBone {
  code: string;
  name: Text;
  picture: string | null;
  segments: CodeTreeSegment[];
}
export interface CodeTree {
  levels: { bone: Text; segment: Text; type: Text; group: Text; subgroup: Text };
  skeleton: string | null;
  bones: CodeTreeBone[];
}

const pickerSchema = z
  .object({
    levels: z.object({ bone: text, segment: text, type: text, group: text, subgroup: text }).strict(),
    /** An SVG of the whole skeleton whose shapes carry data-code="<bone>". */
    skeleton: z.string().optional(),
    /** Per bone: an SVG whose shapes carry data-code="<segment>". */
    bones: z.record(z.string(), z.string()).default({}),
    /** Words and pictures for the type letters of the listed segments. */
    types: z
      .array(
        z
          .object({
            segments: z.array(z.string()).min(1),
            letters: z.record(z.string(), z.object({ name: text, picture: z.string().optional() }).strict()),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();
type Picker = z.infer<typeof pickerSchema>;

const DEFAULT_LEVELS = {
  bone: { nb: 'Knokkel', en: 'Bone' },
  segment: { nb: 'Segment', en: 'Segment' },
  type: { nb: 'Type', en: 'Type' },
  group: { nb: 'Gruppe', en: 'Group' },
  subgroup: { nb: 'Undergruppe', en: 'Subgroup' },
};

/** The picture files must be plain names in the picker file's folder (never a path out of it). */
const PICTURE = /^[A-Za-z0-9][A-Za-z0-9-]*\.svg$/;

/** What a type's groups' names have in common, up to a word boundary ("Radius distalt, ekstraartikulær"). */
export function commonName(names: string[]): string {
  if (names.length === 0) return '';
  let prefix = names[0];
  for (const n of names.slice(1)) {
    let i = 0;
    while (i < prefix.length && i < n.length && prefix[i] === n[i]) i++;
    prefix = prefix.slice(0, i);
  }
  if (names.length > 1 && !names.every((n) => n === prefix)) prefix = prefix.replace(/[^\s,:;(]*$/, '');
  else prefix = prefix.includes(':') ? prefix.slice(0, prefix.lastIndexOf(':')) : prefix;
  return prefix.replace(/[\s,:;(]+$/, '').trim();
}

export function buildCodeTree(doc: any, pickerFile: string | undefined, problems: string[]): CodeTree {
  let picker: Picker | undefined;
  const dir = pickerFile ? path.dirname(pickerFile) : '';
  if (pickerFile) {
    const parsed = pickerSchema.safeParse(YAML.parse(fs.readFileSync(pickerFile, 'utf8')));
    if (!parsed.success) problems.push(`${pickerFile}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    else picker = parsed.data;
    const pictures = [
      picker?.skeleton,
      ...Object.values(picker?.bones ?? {}),
      ...(picker?.types ?? []).flatMap((t) => Object.values(t.letters).map((l) => l.picture)),
    ].filter((p): p is string => !!p);
    for (const p of pictures) {
      if (!PICTURE.test(p)) problems.push(`${pickerFile}: picture "${p}" must be a file name like bone-1.svg in the same folder`);
      else if (!fs.existsSync(path.join(dir, p))) problems.push(`${pickerFile}: picture "${p}" does not exist`);
    }
  }
  const typeWords = (segment: string, letter: string) => picker?.types.find((t) => t.segments.includes(segment))?.letters[letter];
  const bones: CodeTreeBone[] = (doc.bones ?? []).map((bone: any) => ({
    code: String(bone.prefix),
    name: bone.name,
    picture: picker?.bones[String(bone.prefix)] ?? null,
    segments: (bone.segments ?? []).map((segment: any) => {
      const types = new Map<string, CodeTreeGroup[]>();
      for (const g of segment.groups ?? []) {
        const code = String(g.code);
        const type = code.replace(/(?<=[A-Z])\d+$/, '');
        types.set(type, [...(types.get(type) ?? []), { code, name: g.name ?? segment.name, subgroups: (g.subgroups ?? []).map(String) }]);
      }
      return {
        code: String(segment.prefix),
        name: segment.name,
        types: [...types].map(([code, groups]): CodeTreeType => {
          const letter = /[A-Z]$/.exec(code)?.[0] ?? '';
          // The type's own segment (2R3 within 23): the code up to its letter.
          const own = code.slice(0, -1).replace(/\.$/, '');
          const words = typeWords(own, letter) ?? typeWords(String(segment.prefix), letter);
          return {
            code,
            letter,
            picture: words?.picture ?? null,
            groups,
            name: words?.name ?? { nb: commonName(groups.map((g) => g.name.nb)), en: commonName(groups.map((g) => g.name.en)) },
          };
        }),
      };
    }),
  }));
  return { levels: picker?.levels ?? DEFAULT_LEVELS, skeleton: picker?.skeleton ?? null, bones };
}

/** The file of a picture the tree names, or undefined. */
export function picturePath(tree: CodeTree, pickerDir: string, name: string): string | undefined {
  const known = new Set(
    [
      tree.skeleton,
      ...tree.bones.map((b) => b.picture),
      ...tree.bones.flatMap((b) => b.segments.flatMap((s) => s.types.map((t) => t.picture))),
    ].filter((x): x is string => !!x),
  );
  return PICTURE.test(name) && known.has(name) ? path.join(pickerDir, name) : undefined;
}
