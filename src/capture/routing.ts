// Whether a registry takes a case, decided on the anchor's own values (with the person's): referred
// to another registry, not included, or included. One rule for every way a case can start — a
// hospital's message (capture/pipeline.ts) and a registrar typing it in (records/manual.ts) — so a
// registration by hand is routed exactly as a captured one.
import { holds, type Values } from '../registry/expr.ts';
import type { Registry } from '../registry/load.ts';
import type { Text } from '../registry/schema.ts';

export type InclusionDecision =
  { decision: 'referred'; target: string; name: Text } | { decision: 'not-included' } | { decision: 'included' };

export function inclusionDecision(registry: Registry, values: Values): InclusionDecision {
  const refer = registry.refer.find((r) => holds(r.when(values)));
  if (refer) return { decision: 'referred', target: refer.to, name: refer.name };
  if (!holds(registry.include(values))) return { decision: 'not-included' };
  return { decision: 'included' };
}
