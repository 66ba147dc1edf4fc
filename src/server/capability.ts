// The CapabilityStatement served at /fhir/metadata, generated from the routes that exist (the
// route table every route is registered in, access-policy.ts), so that it promises exactly what
// answers: a FHIR route added anywhere appears here, and nothing is listed that is not there.
// A route may say more about itself in `config.fhir` (its search parameters, what it is for).
import type { CapabilityStatement, CapabilityStatementRestResource, CapabilityStatementRestResourceOperation } from 'fhir/r4.js';
import type { RouteEntry } from './access-policy.ts';

/** HL7 Norway's basis profiles (HL7Norway/basisprofiler-r4), where they apply to what is received. */
export const NO_BASIS_PATIENT = 'http://hl7.no/fhir/StructureDefinition/no-basis-Patient';
const VALIDATE = 'http://hl7.org/fhir/OperationDefinition/Resource-validate';

/** What a FHIR route may declare about itself beyond its method and path. */
export interface FhirRouteInfo {
  /** Search parameters a search route takes. */
  searchParams?: Array<{
    name: string;
    type: 'number' | 'date' | 'string' | 'token' | 'reference' | 'composite' | 'quantity' | 'uri' | 'special';
    documentation: string;
  }>;
  /** Profiles the platform holds received resources of this type to. */
  supportedProfile?: string[];
  documentation?: string;
}

type Interaction = 'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'history-type' | 'create' | 'search-type';

export interface CapabilityInput {
  /** The FHIR base, from KVALREG_PUBLIC_URL: `https://kvalreg.example.no/fhir`. */
  base: string;
  version: string;
  routes: RouteEntry[];
  /** Resource types taken inside transaction and batch Bundles. */
  acceptedInBundles: readonly string[];
  /** How callers authenticate (said in the statement's security section). */
  security: string;
}

/** A route's FHIR meaning, or null when it is not one the CapabilityStatement can state. */
export function fhirInteraction(
  method: string,
  url: string,
):
  | { level: 'system'; interaction?: 'transaction' | 'batch'; operation?: string }
  | { level: 'type'; type: string; interaction?: Interaction; operation?: string }
  | null {
  if (!url.startsWith('/fhir')) return null;
  const parts = url
    .replace(/^\/fhir\/?/, '')
    .split('/')
    .filter(Boolean);
  if (parts.length === 0) return method === 'POST' ? { level: 'system', interaction: 'transaction' } : null;
  if (parts.length === 1 && parts[0] === 'metadata') return null; // the statement itself
  if (parts.length === 1 && parts[0].startsWith('$'))
    return method === 'POST' || method === 'GET' ? { level: 'system', operation: parts[0].slice(1) } : null;
  const type = parts[0];
  if (!/^[A-Z][A-Za-z]+$/.test(type)) return null;
  if (parts.length === 1)
    return method === 'GET'
      ? { level: 'type', type, interaction: 'search-type' }
      : method === 'POST'
        ? { level: 'type', type, interaction: 'create' }
        : null;
  if (parts.length === 2 && parts[1].startsWith('$')) return { level: 'type', type, operation: parts[1].slice(1) };
  if (parts.length === 2 && parts[1].startsWith(':')) {
    const byMethod: Record<string, Interaction> = { GET: 'read', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
    return byMethod[method] ? { level: 'type', type, interaction: byMethod[method] } : null;
  }
  return null;
}

export function capabilityStatement(input: CapabilityInput): CapabilityStatement {
  const resources = new Map<string, CapabilityStatementRestResource>();
  const resourceOf = (type: string): CapabilityStatementRestResource => {
    const found = resources.get(type);
    if (found) return found;
    const r = { type } as CapabilityStatementRestResource; // a type name the routes use (checked by the R4 schema in the tests)
    resources.set(type, r);
    return r;
  };
  const system = { interaction: new Set<string>(), operation: new Set<string>() };
  for (const route of input.routes) {
    const meaning = fhirInteraction(route.method, route.url);
    if (!meaning) continue;
    if (meaning.level === 'system') {
      // POST to the base takes both kinds of Bundle.
      if (meaning.interaction) {
        system.interaction.add('transaction');
        system.interaction.add('batch');
      }
      if (meaning.operation) system.operation.add(meaning.operation);
      continue;
    }
    const r = resourceOf(meaning.type);
    if (meaning.interaction && !r.interaction?.some((i) => i.code === meaning.interaction))
      (r.interaction ??= []).push({ code: meaning.interaction });
    if (meaning.operation && !r.operation?.some((o) => o.name === meaning.operation))
      (r.operation ??= []).push(operationOf(meaning.operation));
    const info = route.fhir;
    if (info?.searchParams)
      r.searchParam = [...(r.searchParam ?? []), ...info.searchParams.filter((p) => !r.searchParam?.some((s) => s.name === p.name))];
    if (info?.supportedProfile) r.supportedProfile = [...new Set([...(r.supportedProfile ?? []), ...info.supportedProfile])];
    if (info?.documentation) r.documentation = info.documentation;
  }
  // Types taken inside Bundles have no RESTful interaction of their own here (no create, no read):
  // they say so, and carry the profiles they are held to.
  for (const type of input.acceptedInBundles) {
    const r = resourceOf(type);
    r.documentation = [r.documentation, `Received in transaction and batch Bundles posted to ${input.base} (no interaction of its own).`]
      .filter(Boolean)
      .join(' ');
    if (type === 'Patient') r.supportedProfile = [...new Set([...(r.supportedProfile ?? []), NO_BASIS_PATIENT])];
  }
  return {
    resourceType: 'CapabilityStatement',
    url: `${input.base}/metadata`,
    version: input.version,
    name: 'KvalregCaptureApi',
    title: 'kvalreg FHIR API',
    status: 'active',
    date: new Date().toISOString().slice(0, 10),
    publisher: 'kvalreg',
    description:
      'What this server does, generated from the routes it has: transaction and batch Bundles to the base, $validate per resource type, and quality indicators as Measure and MeasureReport.',
    kind: 'instance',
    software: { name: 'kvalreg', version: input.version },
    implementation: { description: 'kvalreg: automated data capture for national medical quality registries', url: input.base },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation:
          'Send transaction or batch Bundles to the base URL. Every resource except Patient needs a stable identifier; resends are idempotent. Use [type]/$validate for a dry run. Organisations are named by identifier (RESH urn:oid:2.16.578.1.12.4.1.4.102, organisation number urn:oid:2.16.578.1.12.4.1.4.101) as no-basis-Organization does; patients by the identifier systems of no-basis-Patient.',
        security: { cors: false, description: input.security },
        ...(system.interaction.size
          ? { interaction: [...system.interaction].map((code) => ({ code: code as 'transaction' | 'batch' })) }
          : {}),
        ...(system.operation.size ? { operation: [...system.operation].map(operationOf) } : {}),
        resource: [...resources.values()].sort((a, b) => a.type.localeCompare(b.type)),
      },
    ],
  };
}

function operationOf(name: string): CapabilityStatementRestResourceOperation {
  return name === 'validate' ? { name, definition: VALIDATE } : { name, definition: `http://hl7.org/fhir/OperationDefinition/${name}` };
}
