// Every route declares who may call it; one hook enforces it before the body is parsed, and a
// route without a declaration cannot be registered. Unit scope (which cases) is then the data-
// access door's job; this decides only which kinds of caller may use the route at all.
import type { FastifyInstance, FastifySchema } from 'fastify';
import { ROLES, type Caller, type Role } from '../access/caller.ts';
import type { FhirRouteInfo } from './capability.ts';

export type Access = { public: true } | { callers: Array<'system' | Role> };

export const READERS: Access = { callers: ['unit-registrar', 'unit-reader', 'registry-admin', 'platform-admin'] };
export const WRITERS: Access = { callers: ['unit-registrar', 'registry-admin', 'platform-admin'] };
export const ADMINS: Access = { callers: ['registry-admin', 'platform-admin'] };
export const SYSTEMS: Access = { callers: ['system'] };
export const PATIENTS: Access = { callers: ['patient'] };
export const PUBLIC: Access = { public: true };
/** Any person logged in (or holding a user token), whatever their role. */
export const PEOPLE: Access = { callers: [...ROLES] };
/** Any authenticated caller: people and sending systems. */
export const ANY_CALLER: Access = { callers: ['system', ...ROLES] };

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    /** What a FHIR route adds to the CapabilityStatement (capability.ts). */ fhir?: FhirRouteInfo;
  }
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyInstance {
    routeTable: RouteEntry[];
  }
}

export function permits(access: Access, caller: Caller): boolean {
  if ('public' in access) return true;
  if (caller.kind === 'system') return access.callers.includes('system');
  if (caller.kind === 'user') return caller.grants.some((g) => access.callers.includes(g.role));
  return false;
}

export interface RouteEntry {
  method: string;
  url: string;
  access: Access;
  fhir?: FhirRouteInfo;
  /** The route's schemas (server/openapi.ts); test/route-schemas.test.ts requires them. */
  schema?: FastifySchema;
}

/** Refuses to register a route without an access policy; returns the table of routes and policies. */
export function requirePolicies(app: Pick<FastifyInstance, 'addHook'>): RouteEntry[] {
  const table: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.every((m) => m === 'HEAD')) return;
    const access = route.config?.access;
    if (!access) throw new Error(`${methods.join(',')} ${route.url} declares no access policy (config.access)`);
    for (const m of methods)
      table.push({
        method: m,
        url: route.url,
        access,
        ...(route.config?.fhir ? { fhir: route.config.fhir } : {}),
        ...(route.schema ? { schema: route.schema } : {}),
      });
  });
  return table;
}
