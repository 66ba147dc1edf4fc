// FHIRPath (HL7's fhirpath.js with the R4 model, so choice types like `onset` resolve) compiled
// once per expression at registry load; evaluation is then a plain function call per resource.
// Simple paths (members, `where`, `exists`, `startsWith`, string equality) run as plain property
// access (fhirpath-simple.ts), with fhirpath.js for everything else and for any resource whose
// shape the simple form does not handle.
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';
import { compileSimple, GIVE_UP } from './fhirpath-simple.ts';

export type FhirPathFn = ((resource: unknown) => unknown[]) & { simple?: boolean };

export function compileFhirPath(expression: string): FhirPathFn {
  const fn = fhirpath.compile(expression, r4 as any);
  const general = (resource: unknown) => fn(resource as any) as unknown[];
  const simple = compileSimple(expression);
  if (!simple) return general;
  const compiled: FhirPathFn = (resource) => {
    const out = simple(resource);
    return out === GIVE_UP ? general(resource) : out;
  };
  compiled.simple = true;
  return compiled;
}
