// The CapabilityStatement served at /fhir/metadata: what a sending system may post here.
import { ACCEPTED_TYPES } from '../capture/bundle.ts';

export function capabilityStatement(baseUrl: string, version: string): Record<string, unknown> {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString().slice(0, 10),
    kind: 'instance',
    software: { name: 'kvalreg', version },
    implementation: { description: 'kvalreg capture API for national medical quality registries', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json'],
    rest: [{
      mode: 'server',
      documentation: 'Send transaction or batch Bundles to the base URL. Every resource except Patient needs a stable identifier; resends are idempotent. Use $validate for a dry run.',
      security: { description: 'Bearer token in the Authorization header, bound to the sending system.' },
      interaction: [{ code: 'transaction' }, { code: 'batch' }],
      operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
      resource: [...ACCEPTED_TYPES.map((type) => ({ type, interaction: [{ code: 'create' }, { code: 'update' }] })),
        // The PROM instruments' Questionnaires, which QuestionnaireResponses name (docs/prom.md).
        { type: 'Questionnaire', interaction: [{ code: 'read' }, { code: 'search-type' }],
          searchParam: [{ name: 'url', type: 'uri' }, { name: '_id', type: 'token' }, { name: 'name', type: 'string' }] }],
    }],
  };
}
