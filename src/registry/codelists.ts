// Code lists: inline ones and classifications loaded from a file of the registry folder.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { buildCodeTree, type CodeTree } from './code-tree.ts';
import type { CodeListDef, Text } from './schema.ts';

export interface CodeList {
  id: string;
  title: Text;
  system: string | undefined;
  /** Every valid code with its display text. */
  codes: Map<string, Text>;
  /** Properties of a code from its place in a hierarchy (e.g. bone and segment of an AO/OTA group). */
  properties: Map<string, Record<string, string>>;
  /** Codes declared as "unknown" answers (`missing: true`). */
  missing: Set<string>;
  /** A hierarchical list as a tree to pick from, with its picture folder. */
  tree?: CodeTree;
  pickerDir?: string;
}

export function buildCodeList(def: CodeListDef, registryDir: string): CodeList {
  const codes = new Map<string, Text>();
  const properties = new Map<string, Record<string, string>>();
  const missing = new Set<string>();
  if (def.codes) {
    for (const c of def.codes) {
      codes.set(c.code, c.display);
      if (c.missing) missing.add(c.code);
      if (c.properties) properties.set(c.code, c.properties);
    }
    return { id: def.id, title: def.title, system: def.system, codes, properties, missing };
  }
  const file = path.join(registryDir, def.file!);
  const doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  if (def.format === 'hierarchical-groups') {
    // bones → segments → groups (each with optional subgroups): a code is valid if it is a listed
    // group, or a listed group followed by ".<subgroup>" listed for that group.
    for (const bone of doc.bones ?? []) {
      for (const segment of bone.segments ?? []) {
        for (const group of segment.groups ?? []) {
          const name: Text = group.name ?? segment.name ?? bone.name;
          // The type is the group code without its trailing group digit ("2R3A2" → "2R3A"); where the
          // classification stops at the type ("71B"), group and type are the same code.
          const type = String(group.code).replace(/(?<=[A-Z])\d+$/, '');
          const props = { bone: String(bone.prefix), segment: String(segment.prefix), type, group: String(group.code) };
          codes.set(String(group.code), name);
          properties.set(String(group.code), props);
          for (const sub of group.subgroups ?? []) {
            codes.set(`${group.code}.${sub}`, name);
            properties.set(`${group.code}.${sub}`, props);
          }
        }
      }
    }
  } else {
    for (const c of doc.codes ?? []) codes.set(String(c.code), c.display);
  }
  if (codes.size === 0) throw new Error(`${def.file}: no codes found`);
  let tree: CodeTree | undefined;
  if (def.format === 'hierarchical-groups') {
    const problems: string[] = [];
    tree = buildCodeTree(doc, def.picker ? path.join(registryDir, def.picker) : undefined, problems);
    if (problems.length) throw new Error(problems.join('; '));
  }
  return {
    id: def.id,
    title: def.title,
    system: def.system ?? doc.system,
    codes,
    properties,
    missing,
    ...(tree ? { tree, pickerDir: def.picker ? path.dirname(path.join(registryDir, def.picker)) : undefined } : {}),
  };
}

export interface VersionMapRule {
  from: string;
  to: string | null;
  note?: string;
}

/** A map from a legacy classification version: prefix rules applied in order, first match wins. */
export function buildVersionMap(file: string): (code: string) => { code: string | null; rule: VersionMapRule | null } {
  const doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  const rules: VersionMapRule[] = (doc.rules ?? []).map((r: any) => ({
    from: String(r.from),
    to: r.to === null ? null : String(r.to),
    note: r.note,
  }));
  return (code) => {
    for (const rule of rules) {
      if (code.startsWith(rule.from)) return { code: rule.to === null ? null : rule.to + code.slice(rule.from.length), rule };
    }
    return { code, rule: null };
  };
}
