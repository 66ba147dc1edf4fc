// FHIR OperationOutcome: every problem a sending system can cause is reported with the FHIRPath
// location, the offending value, the rule it broke, and what to do about it.
import type { OperationOutcome } from 'fhir/r4.js';
import { KvalregError, kindOfStatus } from '../errors.ts';
export type Severity = 'fatal' | 'error' | 'warning' | 'information';
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'code-invalid'
  | 'business-rule'
  | 'not-supported'
  | 'forbidden'
  | 'processing'
  | 'informational'
  | 'duplicate'
  | 'not-found'
  | 'too-long'
  | 'throttled';

export interface Issue {
  severity: Severity;
  code: IssueCode;
  /** FHIRPath of the element, e.g. Bundle.entry[2].resource.code.coding[0].code */
  location?: string;
  /** What was wrong and what to do. */
  diagnostics: string;
  /** The rule (registry rule id or platform check) that was broken. */
  rule?: string;
  value?: unknown;
}

export class CaptureError extends KvalregError {
  constructor(
    readonly issues: Issue[],
    status = 422,
  ) {
    super(kindOfStatus(status), issues.map((i) => `${i.location ? `${i.location}: ` : ''}${i.diagnostics}`).join('; '));
  }
}

export function operationOutcome(issues: Issue[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity,
      code: i.code,
      ...(i.rule ? { details: { coding: [{ system: 'urn:kvalreg:rule', code: i.rule }], text: i.rule } } : {}),
      diagnostics: i.value === undefined ? i.diagnostics : `${i.diagnostics} (value: ${JSON.stringify(i.value)})`,
      ...(i.location ? { expression: [i.location] } : {}),
    })),
  };
}

export const issue = {
  error: (code: IssueCode, location: string | undefined, diagnostics: string, extra: Partial<Issue> = {}): Issue => ({
    severity: 'error',
    code,
    location,
    diagnostics,
    ...extra,
  }),
  warning: (code: IssueCode, location: string | undefined, diagnostics: string, extra: Partial<Issue> = {}): Issue => ({
    severity: 'warning',
    code,
    location,
    diagnostics,
    ...extra,
  }),
  info: (location: string | undefined, diagnostics: string): Issue => ({
    severity: 'information',
    code: 'informational',
    location,
    diagnostics,
  }),
};
