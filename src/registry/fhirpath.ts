// FHIRPath (HL7's fhirpath.js with the R4 model, so choice types like `onset` resolve) compiled
// once per expression at registry load; evaluation is then a plain function call per resource.
import fhirpath from 'fhirpath';
import r4 from 'fhirpath/fhir-context/r4/index.js';

export type FhirPathFn = (resource: unknown) => unknown[];

export function compileFhirPath(expression: string): FhirPathFn {
  const fn = fhirpath.compile(expression, r4 as any);
  return (resource) => fn(resource as any) as unknown[];
}
