// Loads the organisation hierarchy from a YAML file into `org_unit`, and reads it back as a tree.
import fs from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import type { Queryable } from '../db/pool.ts';
import { UnitTree, type Unit } from './tree.ts';

const name = z.object({ nb: z.string(), en: z.string() });
const base = {
  resh: z.string().regex(/^\d+$/, 'a RESH id is digits only'),
  orgnr: z
    .string()
    .regex(/^\d{9}$/)
    .optional(),
  short: z.string().optional(),
  name,
};
const department = z.object({ ...base, kind: z.enum(['orthopaedic', 'emergency_clinic', 'emergency_department']) });
const hospital = z.object({ ...base, municipality: z.string().optional(), departments: z.array(department) });
const trust = z.object({
  ...base,
  population: z.number().int().optional(),
  demoArea: z.boolean().optional(),
  hospitals: z.array(hospital),
});
const region = z.object({ ...base, trusts: z.array(trust) });
const fileSchema = z.object({ nation: z.object({ ...base, regions: z.array(region) }) });

interface Row {
  resh: string;
  parent: string | null;
  level: Unit['level'];
  kind: string | null;
  short: string | null;
  nameNb: string;
  nameEn: string;
  orgnr: string | null;
  municipality: string | null;
  population: number | null;
  demoArea: boolean;
  path: string[];
}

export function readUnitsFile(file: string): Row[] {
  const parsed = fileSchema.safeParse(YAML.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const rows: Row[] = [];
  const add = (u: z.infer<typeof department> | any, level: Unit['level'], parentPath: string[], extra: Partial<Row> = {}) => {
    const path = [...parentPath, u.resh];
    rows.push({
      resh: u.resh,
      parent: parentPath.at(-1) ?? null,
      level,
      kind: u.kind ?? null,
      short: u.short ?? null,
      nameNb: u.name.nb,
      nameEn: u.name.en,
      orgnr: u.orgnr ?? null,
      municipality: u.municipality ?? null,
      population: u.population ?? null,
      demoArea: Boolean(u.demoArea),
      path,
      ...extra,
    });
    return path;
  };
  const { nation } = parsed.data;
  const np = add(nation, 'nation', []);
  for (const r of nation.regions) {
    const rp = add(r, 'region', np);
    for (const t of r.trusts) {
      const tp = add(t, 'trust', rp);
      for (const h of t.hospitals) {
        const hp = add(h, 'hospital', tp);
        for (const d of h.departments) add(d, 'department', hp);
      }
    }
  }
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.resh)) throw new Error(`${file}: RESH id ${r.resh} is used twice; every unit needs its own`);
    seen.add(r.resh);
  }
  return rows;
}

/** Inserts or updates the units of the file; units not in the file are kept (cases may refer to them). */
export async function loadUnits(db: Queryable, file: string): Promise<number> {
  const rows = readUnitsFile(file);
  await db.query(
    `INSERT INTO org_unit (resh, parent_resh, level, kind, short_name, name_nb, name_en, orgnr, municipality, population, demo_area, path)
     SELECT r.resh, r.parent, r.level, r.kind, r.short, r."nameNb", r."nameEn", r.orgnr, r.municipality, r.population, r."demoArea", r.path
     FROM jsonb_to_recordset($1::jsonb) AS r(resh text, parent text, level text, kind text, short text, "nameNb" text, "nameEn" text, orgnr text, municipality text, population int, "demoArea" boolean, path text[])
     ORDER BY cardinality(r.path)
     ON CONFLICT (resh) DO UPDATE SET parent_resh = EXCLUDED.parent_resh, level = EXCLUDED.level, kind = EXCLUDED.kind, short_name = EXCLUDED.short_name,
       name_nb = EXCLUDED.name_nb, name_en = EXCLUDED.name_en, orgnr = EXCLUDED.orgnr, municipality = EXCLUDED.municipality,
       population = EXCLUDED.population, demo_area = EXCLUDED.demo_area, path = EXCLUDED.path`,
    [JSON.stringify(rows)],
  );
  return rows.length;
}

export async function readUnitTree(db: Queryable): Promise<UnitTree> {
  const { rows } = await db.query('SELECT resh, parent_resh, level, kind, short_name, name_nb, name_en, orgnr, path FROM org_unit');
  return new UnitTree(
    rows.map((r) => ({
      resh: r.resh,
      parent: r.parent_resh,
      level: r.level,
      kind: r.kind,
      short: r.short_name,
      nameNb: r.name_nb,
      nameEn: r.name_en,
      orgnr: r.orgnr,
      path: r.path,
    })),
  );
}
