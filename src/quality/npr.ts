// Importing an extract of the national patient register (NPR) for one registry. The file has one
// row per episode (docs/data-quality.md, "The NPR extract"): episode_id, national_id,
// hospital_resh, admission_date, discharge_date, contact_type, icd10, ncsp, and optionally
// department_kind and the flag columns of the registry's screening. Only the episodes the
// registry's declaration selects (quality.yaml `npr.selection`: code lists, or its screening
// procedure) are kept, with the identity number encrypted and its keyed hash, as everywhere else;
// episodes of patients who have opted out are not stored, only counted. A file with problems is
// refused whole, naming every line, and nothing is stored.
import { parse } from 'csv-parse/sync';
import type { PersonTx } from '../access/door.ts';
import { encryptNin, ninHash, type IdentityKeys } from '../identity/crypto.ts';
import { isTestKind, parseNin } from '../identity/nin.ts';
import type { Registry } from '../registry/load.ts';
import { isRealDate } from '../registry/values.ts';
import { anyOf, normaliseCode, screen, type Admission } from '../screening/run.ts';
import type { UnitTree } from '../units/tree.ts';
import { CONTACT_TYPES, type NprSelectionDef } from './npr-schema.ts';
import { KvalregError } from '../errors.ts';

export class NprError extends KvalregError {
  constructor(message: string) {
    super('invalid', message);
  }
}

export const NPR_COLUMNS = [
  'episode_id',
  'national_id',
  'hospital_resh',
  'admission_date',
  'discharge_date',
  'contact_type',
  'icd10',
  'ncsp',
] as const;
const CONTACT_ALIASES: Record<string, (typeof CONTACT_TYPES)[number]> = {
  inpatient: 'inpatient',
  innlagt: 'inpatient',
  innleggelse: 'inpatient',
  outpatient: 'outpatient',
  poliklinisk: 'outpatient',
  day: 'day',
  dag: 'day',
  dagbehandling: 'day',
};

export interface Episode {
  episodeId: string;
  nin: string;
  hospital: string;
  admission: string;
  discharge: string;
  contactType: (typeof CONTACT_TYPES)[number];
  icd10: string[];
  ncsp: string[];
  departmentKind: string;
  flags: Record<string, boolean>;
  line: number;
}

export interface ImportResult {
  extractId: number | null;
  years: number[];
  rows: number;
  episodes: number;
  selected: number;
  reserved: number;
  duplicates: number;
  stored: number;
  dryRun: boolean;
}

const TRUE = /^(1|j|ja|y|yes|true|sann)$/i,
  FALSE = /^(0|n|nei|no|false|usann|)$/i;

/** Reads the extract; throws NprError naming every problem (at most 20 shown) when any row is wrong. */
export function readExtract(
  registry: Registry,
  units: UnitTree,
  csv: string,
  opts: { allowTestIdentities?: boolean; today?: Date } = {},
): Episode[] {
  const firstLine = csv.split(/\r?\n/, 1)[0] ?? '';
  if (!firstLine.trim())
    throw new NprError(`the file is empty: give a header row with the columns ${NPR_COLUMNS.join(', ')}, then one row per episode`);
  const delimiter = firstLine.includes(';') ? ';' : ',';
  let records: Record<string, string>[];
  try {
    records = parse(csv, {
      columns: (h: string[]) =>
        h.map((c) =>
          c
            .trim()
            .toLowerCase()
            .replace(/^\ufeff/, ''),
        ),
      skip_empty_lines: true,
      delimiter,
      trim: true,
      bom: true,
    });
  } catch (err) {
    throw new NprError(`the file is not valid CSV: ${(err as Error).message}`);
  }
  const header = firstLine.split(delimiter).map((c) =>
    c
      .trim()
      .toLowerCase()
      .replace(/^\ufeff/, ''),
  );
  const flagColumns = registry.screening?.flagColumns ?? [];
  const missing = NPR_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length)
    throw new NprError(
      `the file lacks the column(s) ${missing.join(', ')}; expected ${NPR_COLUMNS.join(', ')} (and optionally department_kind${flagColumns.length ? `, ${flagColumns.join(', ')}` : ''})`,
    );
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const out: Episode[] = [];
  records.forEach((r, i) => {
    const line = i + 2;
    const p = (m: string) => problems.push(`line ${line}: ${m}`);
    if (!r.episode_id) p('episode_id is empty');
    else if (seen.has(r.episode_id)) p(`episode_id "${r.episode_id}" is also on line ${seen.get(r.episode_id)}`);
    else seen.set(r.episode_id, line);
    const nin = parseNin(r.national_id ?? '', { today: opts.today });
    if (!nin.ok) p(`national_id: ${nin.message}`);
    else if (isTestKind(nin.kind) && !opts.allowTestIdentities)
      p('national_id: a synthetic test number (month + 80), which no real patient has; this deployment does not accept test numbers');
    const unit = units.get(r.hospital_resh ?? '');
    let hospital = '';
    if (!unit) p(`hospital_resh "${r.hospital_resh}" is not a unit of the organisation (give a hospital's or a department's RESH id)`);
    else if (unit.level === 'department') hospital = unit.parent ?? '';
    else if (unit.level === 'hospital') hospital = unit.resh;
    else p(`hospital_resh "${r.hospital_resh}" is a ${unit.level}, not a hospital or a department`);
    if (!isRealDate(r.admission_date ?? '')) p(`admission_date must be a real date written YYYY-MM-DD, not "${r.admission_date}"`);
    const discharge = r.discharge_date ? r.discharge_date : r.admission_date;
    if (!isRealDate(discharge ?? ''))
      p(`discharge_date must be a real date written YYYY-MM-DD (or empty for a one-day contact), not "${r.discharge_date}"`);
    else if (isRealDate(r.admission_date ?? '') && discharge < r.admission_date)
      p(`discharge_date ${discharge} is before admission_date ${r.admission_date}`);
    const contact = CONTACT_ALIASES[(r.contact_type ?? '').trim().toLowerCase()];
    if (!contact) p(`contact_type "${r.contact_type}" is not one of ${CONTACT_TYPES.join(', ')}`);
    const codes = (col: 'icd10' | 'ncsp') =>
      (r[col] ?? '')
        .split(/[\s,|]+/)
        .filter(Boolean)
        .map(normaliseCode);
    const icd10 = codes('icd10'),
      ncsp = codes('ncsp');
    const badIcd = icd10.filter((c) => !/^[A-Z]\d{2}[0-9A-Z]{0,3}$/.test(c));
    if (badIcd.length) p(`${badIcd.map((c) => `"${c}"`).join(', ')} is not an ICD-10 code (e.g. S52.5 or S525)`);
    const badNcsp = ncsp.filter((c) => !/^[A-Z]{3,5}\d{0,3}[A-Z0-9]?$/.test(c));
    if (badNcsp.length) p(`${badNcsp.map((c) => `"${c}"`).join(', ')} is not an NCSP code (e.g. NCJ62)`);
    const flags: Record<string, boolean> = {};
    for (const f of flagColumns) {
      const v = r[f] ?? '';
      if (TRUE.test(v)) flags[f] = true;
      else if (FALSE.test(v)) flags[f] = false;
      else p(`${f} must be 1/0 (or ja/nei, true/false), not "${v}"`);
    }
    if (nin.ok && hospital && contact) {
      out.push({
        episodeId: r.episode_id,
        nin: nin.nin,
        hospital,
        admission: r.admission_date,
        discharge,
        contactType: contact,
        icd10,
        ncsp,
        departmentKind: (r.department_kind ?? 'other').trim().toLowerCase() || 'other',
        flags,
        line,
      });
    }
  });
  if (problems.length) {
    const shown = problems.slice(0, 20);
    throw new NprError(
      `the extract has ${problems.length} problem(s); nothing was imported:\n  ${shown.join('\n  ')}${problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : ''}`,
    );
  }
  return out;
}

/** Which episodes belong to the registry by its declaration. */
export function selectEpisodes(registry: Registry, def: NprSelectionDef, episodes: Episode[]): Episode[] {
  const s = def.selection;
  const icdIn = s.icd10 ? anyOf(s.icd10.include) : null,
    icdOut = s.icd10 ? anyOf(s.icd10.exclude) : null;
  const ncspIn = s.ncsp ? anyOf(s.ncsp.include) : null;
  let byScreening = new Set<string>();
  if (s.screening && registry.screening) {
    const admissions: Admission[] = episodes.map((e) => ({
      admissionId: e.episodeId,
      nationalId: e.nin,
      admissionDate: e.admission,
      departmentKinds: [e.departmentKind],
      outpatient: e.contactType === 'outpatient',
      flags: { ...Object.fromEntries(registry.screening!.flagColumns.map((c) => [c, false])), ...e.flags },
      codes: e.icd10,
      lines: [e.line],
      identityProblems: [],
    }));
    const wanted = new Set(s.screening.outcomes);
    byScreening = new Set(
      screen(registry.screening, admissions)
        .outcomes.filter((o) => wanted.has(o.step))
        .map((o) => o.admissionId),
    );
  }
  return episodes.filter((e) => {
    if (s.contactTypes && !s.contactTypes.includes(e.contactType)) return false;
    if (icdIn && e.icd10.some((c) => icdIn(c) && !icdOut!(c))) return true;
    if (ncspIn && e.ncsp.some(ncspIn)) return true;
    return byScreening.has(e.episodeId);
  });
}

interface Placed extends Episode {
  hash: Buffer;
  chainStart: string;
  duplicateOf: string | null;
  year: number;
}

const addDays = (d: string, n: number) => new Date(Date.parse(`${d}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

/**
 * Places each selected episode in its event: episodes of one person are taken in order of
 * admission; one at another hospital starting at most `transferDays` after the previous one's
 * discharge continues its transfer chain (the chain's first admission is the event's start); one
 * at the same hospital starting at most `sameEventDays` after the previous counted one's start is
 * a follow-up contact of that event (kept, not counted).
 */
export function placeEpisodes(def: NprSelectionDef, episodes: Array<Episode & { hash: Buffer }>): Placed[] {
  const byPerson = new Map<string, Array<Episode & { hash: Buffer }>>();
  for (const e of episodes) {
    const k = e.hash.toString('hex');
    byPerson.set(k, [...(byPerson.get(k) ?? []), e]);
  }
  const out: Placed[] = [];
  for (const list of byPerson.values()) {
    list.sort(
      (a, b) => a.admission.localeCompare(b.admission) || a.discharge.localeCompare(b.discharge) || a.episodeId.localeCompare(b.episodeId),
    );
    let chainStart = '',
      chainEnd = '';
    const lastCounted = new Map<string, Placed>();
    for (const e of list) {
      if (chainEnd && e.admission <= addDays(chainEnd, def.transferDays)) {
        if (e.discharge > chainEnd) chainEnd = e.discharge;
      } else {
        chainStart = e.admission;
        chainEnd = e.discharge;
      }
      const prev = lastCounted.get(e.hospital);
      const duplicateOf =
        prev && def.sameEventDays > 0 && e.admission <= addDays(prev.admission, def.sameEventDays) ? prev.episodeId : null;
      const placed: Placed = {
        ...e,
        chainStart: duplicateOf ? prev!.chainStart : chainStart,
        duplicateOf,
        year: Number((duplicateOf ? prev!.chainStart : chainStart).slice(0, 4)),
      };
      if (!duplicateOf) lastCounted.set(e.hospital, placed);
      out.push(placed);
    }
  }
  return out;
}

/**
 * Imports an extract: refuses it whole if any row is wrong; replaces the registry's episodes of
 * the years the extract covers; does not store episodes of reserved patients (counted instead).
 */
export async function importExtract(
  tx: PersonTx,
  registry: Registry,
  def: NprSelectionDef,
  csv: string,
  keys: IdentityKeys,
  o: { source: string; actor: string; allowTestIdentities?: boolean; dryRun?: boolean },
): Promise<ImportResult> {
  const all = readExtract(registry, tx.units, csv, { allowTestIdentities: o.allowTestIdentities });
  const selected = selectEpisodes(registry, def, all).map((e) => ({ ...e, hash: ninHash(keys, e.nin) }));
  const hashes = [...new Set(selected.map((e) => e.hash.toString('hex')))].map((h) => Buffer.from(h, 'hex'));
  const reservedHashes = new Set<string>();
  for (let i = 0; i < hashes.length; i += 10_000) {
    const { rows } = await tx.client.query('SELECT nin_hash FROM reservation WHERE nin_hash = ANY($1::bytea[])', [
      hashes.slice(i, i + 10_000),
    ]);
    for (const r of rows) reservedHashes.add((r.nin_hash as Buffer).toString('hex'));
  }
  const placed = placeEpisodes(def, selected);
  const keep = placed.filter((e) => !reservedHashes.has(e.hash.toString('hex')));
  const reserved = placed.filter((e) => reservedHashes.has(e.hash.toString('hex')) && !e.duplicateOf);
  const years = [...new Set(placed.map((e) => e.year))].sort();
  const result: ImportResult = {
    extractId: null,
    years,
    rows: all.length,
    episodes: all.length,
    selected: selected.length,
    reserved: reserved.length,
    duplicates: placed.filter((e) => e.duplicateOf).length,
    stored: keep.length,
    dryRun: Boolean(o.dryRun),
  };
  if (o.dryRun) return result;
  await tx.client.query('DELETE FROM npr_episode WHERE registry = $1 AND year = ANY($2::int[])', [registry.id, years]);
  await tx.client.query('DELETE FROM npr_reserved WHERE registry = $1 AND year = ANY($2::int[])', [registry.id, years]);
  const {
    rows: [x],
  } = await tx.client.query(
    `INSERT INTO npr_extract (registry, source, imported_by, years, rows_read, episodes, selected, reserved, duplicates) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [registry.id, o.source, o.actor, years, all.length, all.length, selected.length, reserved.length, result.duplicates],
  );
  result.extractId = Number(x.id);
  // Two passes: first the counted episodes (their ids are needed by follow-up contacts), then the rest.
  const ids = new Map<string, number>();
  for (const pass of [keep.filter((e) => !e.duplicateOf), keep.filter((e) => e.duplicateOf)]) {
    for (let i = 0; i < pass.length; i += 5000) {
      const b = pass.slice(i, i + 5000);
      const { rows } = await tx.client.query(
        `INSERT INTO npr_episode (registry, extract_id, episode_id, nin_hash, nin_enc, hospital_resh, admission_date, discharge_date, contact_type, icd10, ncsp, chain_start, duplicate_of, year, person_id)
         SELECT $1, $2, t.episode_id, t.nin_hash, t.nin_enc, t.hospital_resh, t.admission_date, t.discharge_date, t.contact_type, t.icd10::text[], t.ncsp::text[], t.chain_start, t.duplicate_of, t.year, ${RESOLVED_PERSON('t')}
         FROM unnest($3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::date[], $8::date[], $9::text[], $10::text[], $11::text[], $12::date[], $13::bigint[], $14::int[])
           AS t(episode_id, nin_hash, nin_enc, hospital_resh, admission_date, discharge_date, contact_type, icd10, ncsp, chain_start, duplicate_of, year)
         RETURNING id, episode_id`,
        [
          registry.id,
          result.extractId,
          b.map((e) => e.episodeId),
          b.map((e) => e.hash),
          b.map((e) => encryptNin(keys, e.nin)),
          b.map((e) => e.hospital),
          b.map((e) => e.admission),
          b.map((e) => e.discharge),
          b.map((e) => e.contactType),
          b.map((e) => `{${e.icd10.join(',')}}`),
          b.map((e) => `{${e.ncsp.join(',')}}`),
          b.map((e) => e.chainStart),
          b.map((e) => (e.duplicateOf ? (ids.get(e.duplicateOf) ?? null) : null)),
          b.map((e) => e.year),
        ],
      );
      for (const r of rows) ids.set(r.episode_id, Number(r.id));
    }
  }
  const reservedCounts = new Map<string, number>();
  for (const e of reserved) {
    const k = `${e.hospital}|${e.year}`;
    reservedCounts.set(k, (reservedCounts.get(k) ?? 0) + 1);
  }
  for (const [k, n] of reservedCounts) {
    const [hospital, year] = k.split('|');
    await tx.client.query('INSERT INTO npr_reserved (registry, hospital_resh, year, episodes) VALUES ($1, $2, $3, $4)', [
      registry.id,
      hospital,
      Number(year),
      n,
    ]);
  }
  tx.audit({ action: 'import', object: `registry/${registry.id}/npr-extract/${result.extractId}`, registry: registry.id });
  return result;
}

/**
 * The person an episode's number names (kvalreg_person_id_by_hash's rule: the person holding the
 * number, else the one it was merged into), for a row `t` with `nin_hash`; read as the platform.
 */
const RESOLVED_PERSON = (t: string) =>
  `coalesce((SELECT p.id FROM person p WHERE p.nin_hash = ${t}.nin_hash), (SELECT m.into_id FROM person_merge m WHERE m.from_hash = ${t}.nin_hash))`;

/**
 * After an import has committed: the persons of its episodes looked up again, with person and
 * person_merge locked against writes for the moment it takes (SHARE: the capture waits, reads go
 * on). The import resolved them as it inserted, but a person created or merged by a transaction
 * running beside it could not see the import's rows (the triggers of migration 126 found nothing
 * to update), nor the import theirs. Once the lock is held every such transaction has committed,
 * so this statement sees them; later ones see the episodes and keep them current by trigger. In a
 * transaction of its own, after the import's, so that a capture waiting on a row the import
 * deleted never waits on a transaction that waits on it. The look-up is a hash join (each number
 * is unique in person and in person_merge, so each episode finds at most one of each): 0.2–0.3 s
 * for 100,000 episodes, twice that as a look-up per episode. Returns the episodes corrected.
 */
export async function relinkExtract(tx: PersonTx, extractId: number): Promise<number> {
  await tx.client.query('LOCK TABLE person, person_merge IN SHARE MODE');
  const { rowCount } = await tx.client.query(
    `UPDATE npr_episode x SET person_id = r.person_id
     FROM (SELECT t.registry, t.id, coalesce(p.id, m.into_id) AS person_id FROM npr_episode t
           LEFT JOIN person p ON p.nin_hash = t.nin_hash LEFT JOIN person_merge m ON m.from_hash = t.nin_hash
           WHERE t.extract_id = $1) r
     WHERE x.registry = r.registry AND x.id = r.id AND x.person_id IS DISTINCT FROM r.person_id`,
    [extractId],
  );
  await tx.client.query('UPDATE npr_extract SET persons_checked = true WHERE id = $1', [extractId]);
  return rowCount ?? 0;
}

/** Extracts of a registry whose persons have not been looked up again since their import (see relinkExtract). */
export async function uncheckedExtracts(tx: PersonTx, registry: string): Promise<number[]> {
  const { rows } = await tx.client.query('SELECT id FROM npr_extract WHERE registry = $1 AND NOT persons_checked ORDER BY id', [registry]);
  return rows.map((r) => Number(r.id));
}
