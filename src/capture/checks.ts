// Map and check: every value every registry would take from the message, typed and checked, and
// every captured resource against what is stored of it, before anything is written. What is wrong
// is reported on its entry; a transaction is then refused whole, a batch loses the patients concerned.
import crypto from 'node:crypto';
import type { Registry } from '../registry/load.ts';
import { isDateTime, isRealDate } from '../registry/values.ts';
import type { EntryAnswers } from './answers.ts';
import type { ParsedBundle, ResourceEntry } from './bundle.ts';
import { extractValues, toMapped, type MappedResource } from './mapper.ts';
import { CaptureError, issue, type Issue } from './outcome.ts';
import type { Group, Patients } from './patients.ts';
import type { Snapshot } from './snapshot.ts';

/** The message's resources as every registry's mapping sees them, by rkey. */
export function mapResources(groups: Map<string, Group>): Map<string, MappedResource> {
  const mapped = new Map<string, MappedResource>();
  for (const g of groups.values())
    for (const r of g.resources) mapped.set(r.rkey, toMapped(r.rkey, r.resourceType, r.resource, `Bundle.entry[${r.index}].resource`));
  return mapped;
}

/**
 * The Patient's own dates, and every value every registry takes from each resource (kept on the
 * group for routing), with the unit each names known to the platform.
 */
export function checkValues(
  groups: Map<string, Group>,
  mapped: Map<string, MappedResource>,
  registries: Registry[],
  unitKnown: (resh: string) => boolean,
  answers: EntryAnswers,
): void {
  for (const g of groups.values()) {
    if (g.refused) continue;
    if (g.patient) {
      const local = patientDates(g.patient.resource, `Bundle.entry[${g.patient.index}].resource`);
      if (local.length) {
        g.issues.push(...local);
        answers.note(g.patient.index, ...local);
      }
    }
    for (const r of g.resources) {
      const m = mapped.get(r.rkey)!;
      for (const registry of registries) {
        const local: Issue[] = [];
        const values = extractValues(registry, m, local);
        for (const v of values) {
          if (v.variable === registry.mapping.unitVariable && !unitKnown(String(v.value))) {
            local.push(
              issue.error(
                'code-invalid',
                m.location,
                `${registry.id}: the unit with RESH id ${v.value} is not known to the platform. Check the RESH id in the resource, or ask the registry to add the unit.`,
                { rule: 'unit-known', value: v.value },
              ),
            );
          }
        }
        if (local.length) {
          g.issues.push(...local);
          answers.note(r.index, ...local);
        }
        if (!g.extracted.has(registry.id)) g.extracted.set(registry.id, new Map());
        g.extracted.get(registry.id)!.set(r.rkey, values);
      }
    }
  }
}

function patientDates(p: Record<string, any>, at: string): Issue[] {
  const local: Issue[] = [];
  if (p.birthDate !== undefined && !(typeof p.birthDate === 'string' && isRealDate(p.birthDate))) {
    local.push(
      issue.error(
        'value',
        `${at}.birthDate`,
        'birthDate must be a real calendar date written YYYY-MM-DD (or left out: it is derived from the identity number).',
        { value: p.birthDate },
      ),
    );
  }
  const d = p.deceasedDateTime;
  if (d !== undefined && !(typeof d === 'string' && (isRealDate(d) || isDateTime(d)))) {
    local.push(
      issue.error('value', `${at}.deceasedDateTime`, 'deceasedDateTime must be a real date (YYYY-MM-DD) or a date-time with a time zone.', {
        value: d,
      }),
    );
  }
  return local;
}

/** A resource of an accepted patient, with the hash of its content (a resend has the same). */
export interface Candidate {
  r: ResourceEntry;
  g: Group;
  sha: Buffer;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as any)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Earlier versions of these resources: unchanged content is a resend, content older than what is
 * stored is a late replay (both decided when applying), and an identifier already used by another
 * sender or for another patient is an error.
 */
export function checkStoredVersions(groups: Map<string, Group>, snap: Snapshot, sender: string, answers: EntryAnswers): Candidate[] {
  const candidates = [...groups.values()]
    .filter((g) => !g.refused && !g.issues.length)
    .flatMap((g) => g.resources.map((r) => ({ r, g, sha: crypto.createHash('sha256').update(canonical(r.resource)).digest() })));
  for (const c of candidates) {
    const old = snap.existing.get(c.r.rkey);
    if (old && old.sender !== sender) {
      // Identifiers are the sender's own: another system reusing one would overwrite data it did not send.
      const problem = issue.error(
        'business-rule',
        `Bundle.entry[${c.r.index}].resource.identifier`,
        `A resource with this identifier was sent by another system (${old.sender}). Use your own identifier system for the resources you send.`,
        { rule: 'identifier-sender', value: c.r.rkey },
      );
      c.g.issues.push(problem);
      answers.note(c.r.index, problem);
      continue;
    }
    if (old && old.owner !== c.g.identity.hashHex) {
      const problem = issue.error(
        'business-rule',
        `Bundle.entry[${c.r.index}].resource.identifier`,
        'A resource with this identifier was sent earlier for another patient. Identifiers must be unique per resource; correct the patient or the identifier.',
        { rule: 'identifier-owner', value: c.r.rkey },
      );
      c.g.issues.push(problem);
      answers.note(c.r.index, problem);
    }
  }
  return candidates;
}

/** Deletions of what another system sent: refused (the entry fails). */
export function checkDeletions(bundle: ParsedBundle, snap: Snapshot, sender: string, answers: EntryAnswers): Issue[] {
  const problems: Issue[] = [];
  for (const d of bundle.deletions) {
    const row = snap.deletions.get(d.rkey);
    if (row && row.sender !== sender) {
      const problem = issue.error(
        'business-rule',
        `Bundle.entry[${d.index}].request.url`,
        `This resource was sent by another system (${row.sender}); only its sender can delete it.`,
        { rule: 'identifier-sender', value: d.rkey },
      );
      problems.push(problem);
      answers.fail(d.index, problem);
    }
  }
  return problems;
}

/**
 * What was found so far decides: a transaction with any error is refused whole (nothing is
 * stored); in a batch the entries concerned fail and the rest goes on. Returns the patients accepted.
 */
export function acceptOrRefuse(bundle: ParsedBundle, patients: Patients, deletionIssues: Issue[], answers: EntryAnswers): Group[] {
  const groups = [...patients.groups.values()];
  const failed = groups.filter((g) => g.issues.length && !g.refused);
  if (bundle.type === 'transaction' && (failed.length || deletionIssues.length))
    throw new CaptureError([...failed.flatMap((g) => g.issues), ...deletionIssues]);
  for (const idx of patients.unidentified) answers.fail(idx);
  for (const g of failed)
    for (const idx of [g.patient?.index, ...g.resources.map((r) => r.index)]) if (idx !== undefined) answers.fail(idx);
  return groups.filter((g) => !g.refused && !g.issues.length);
}
