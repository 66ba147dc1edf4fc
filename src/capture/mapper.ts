// Evaluates a registry's FHIR mapping on captured resources: which resources belong to which case
// (by the declared link kinds) and which variable values they carry.
import type { CompiledSource, Registry } from '../registry/load.ts';
import { coerceValue } from '../registry/values.ts';
import { linksOf, referenceKeys } from './bundle.ts';
import { issue, type Issue } from './outcome.ts';
import { isRetracted } from '../records/retraction.ts';

/** A resource as the mapper sees it: already normalised, wherever it came from. */
export interface MappedResource {
  rkey: string;
  resourceType: string;
  resource: Record<string, any>;
  links: string[];
  /** Where it is in the current message, for error locations; undefined if stored earlier. */
  location?: string;
}

export interface Anchor {
  rkey: string;
  resource: Record<string, any>;
  /** what the anchor refers to through its declared paths */ refs: string[];
}

export interface Contribution {
  anchorKey: string;
  form: string;
  instance: string;
  variable: string;
  value: string | number | boolean;
  resourceKey: string;
}

export function isAnchor(registry: Registry, r: MappedResource): boolean {
  return (
    r.resourceType === registry.anchor.resource && !isRetracted(r.resource) && registry.anchor.where(r.resource).some((x) => x === true)
  );
}

export function toMapped(rkey: string, resourceType: string, resource: Record<string, any>, location?: string): MappedResource {
  return { rkey, resourceType, resource, links: linksOf(resource), location };
}

/** What the anchor refers to through its declared paths (e.g. its encounter): the keys other resources share with it. */
export function anchorRefs(registry: Registry, anchorResource: Record<string, any>): string[] {
  const keys = new Set<string>();
  for (const s of registry.sources)
    if (s.def.link === 'anchor-references') for (const k of referenceKeys(s.linkPath!(anchorResource))) keys.add(k);
  return [...keys];
}

/**
 * The keys through which resource `r` can belong to a case of `registry`: `anchors` are keys that
 * name an anchor directly; `shared` are keys an anchor refers to (its encounter, or `r` itself).
 */
export function linkKeysOf(registry: Registry, r: MappedResource): { anchors: string[]; shared: string[] } {
  const anchors = new Set<string>([r.rkey]);
  const shared = new Set<string>([r.rkey]);
  for (const s of registry.sources) {
    if (s.def.resource !== r.resourceType || !s.linkPath) continue;
    if (s.def.link === 'references-anchor') for (const k of referenceKeys(s.linkPath(r.resource))) anchors.add(k);
    if (s.def.link === 'references-anchor-encounter') for (const k of referenceKeys(s.linkPath(r.resource))) shared.add(k);
  }
  return { anchors: [...anchors], shared: [...shared] };
}

function linked(source: CompiledSource, anchor: Anchor, r: MappedResource): boolean {
  switch (source.def.link) {
    case 'anchor':
      return r.rkey === anchor.rkey;
    case 'anchor-references':
      return referenceKeys(source.linkPath!(anchor.resource)).includes(r.rkey);
    case 'references-anchor':
      return referenceKeys(source.linkPath!(r.resource)).includes(anchor.rkey);
    case 'references-anchor-encounter': {
      const keys = referenceKeys(source.linkPath!(r.resource));
      return keys.some((k) => anchor.refs.includes(k));
    }
  }
}

/** A value a resource carries for a registry, before it is known which case it belongs to. */
export interface Extracted {
  source: CompiledSource;
  variable: string;
  form: string;
  repeating: boolean;
  value: string | number | boolean;
}

/**
 * The values resource `r` carries for `registry`, typed and checked against the codebook. Type and
 * code-list problems are returned as issues: a sending system's error, which rejects the message.
 */
export function extractValues(registry: Registry, r: MappedResource, issues: Issue[]): Extracted[] {
  const out: Extracted[] = [];
  // A resource its sender retracted (entered-in-error) carries nothing any more.
  if (isRetracted(r.resource)) return out;
  for (const source of registry.sources) {
    if (source.def.resource !== r.resourceType) continue;
    let applies: boolean;
    try {
      applies = !source.where || source.where(r.resource).some((x) => x === true);
    } catch (err) {
      issues.push(
        issue.error(
          'structure',
          r.location,
          `${registry.id}: the resource cannot be matched (${source.def.where}): ${(err as Error).message.split('\n')[0]}. Check its elements' types against FHIR R4.`,
          { rule: 'structure' },
        ),
      );
      continue;
    }
    if (!applies) continue;
    const set = (variable: string, raw: unknown, expr: string) => {
      const form = registry.variables.get(variable)!.form;
      const mapped = source.def.codemap?.[variable];
      let value = raw;
      if (mapped) {
        if (!(String(raw) in mapped)) {
          issues.push(
            issue.error(
              'code-invalid',
              r.location,
              `${registry.id}: the code ${JSON.stringify(raw)} (from ${expr}) is not one the registry maps for ${variable}; expected one of ${Object.keys(mapped).join(', ')}.`,
              { rule: `codemap:${variable}`, value: raw },
            ),
          );
          return;
        }
        value = mapped[String(raw)];
      }
      const coerced = coerceValue(registry, variable, value);
      if (!coerced.ok) {
        issues.push(
          issue.error(
            coerced.rule.startsWith('codelist') ? 'code-invalid' : 'value',
            r.location,
            `${registry.id}: ${coerced.problem} (from ${expr}).`,
            { rule: coerced.rule, value },
          ),
        );
        return;
      }
      out.push({ source, variable, form: form.id, repeating: form.repeating, value: coerced.value });
    };
    for (const { variable, fn } of source.values) {
      let result: unknown[];
      try {
        result = fn(r.resource).filter((x) => x !== null && x !== undefined && x !== '');
      } catch (err) {
        // FHIRPath on a resource of the wrong shape (e.g. a list where one value belongs).
        issues.push(
          issue.error(
            'structure',
            r.location,
            `${registry.id}: ${variable} cannot be read with ${source.def.values[variable]}: ${(err as Error).message.split('\n')[0]}. Check the element's type against FHIR R4.`,
            { rule: `structure:${variable}` },
          ),
        );
        continue;
      }
      if (result.length === 0) continue;
      set(variable, result[0], source.def.values[variable]);
    }
    for (const [variable, value] of Object.entries(source.def.constants ?? {})) set(variable, value, `constant for ${source.def.resource}`);
  }
  return out;
}

/** Which of the extracted values go to the case of `anchor`, by the declared link of their source. */
export function contributions(anchor: Anchor, r: MappedResource, extracted: Extracted[]): Contribution[] {
  const linkedSources = new Map<CompiledSource, boolean>();
  const out: Contribution[] = [];
  for (const x of extracted) {
    let ok = linkedSources.get(x.source);
    if (ok === undefined) {
      ok = linked(x.source, anchor, r);
      linkedSources.set(x.source, ok);
    }
    if (ok)
      out.push({
        anchorKey: anchor.rkey,
        form: x.form,
        instance: x.repeating ? r.rkey : '',
        variable: x.variable,
        value: x.value,
        resourceKey: r.rkey,
      });
  }
  return out;
}
