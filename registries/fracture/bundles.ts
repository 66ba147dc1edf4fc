// Builds the FHIR R4 bundles a hospital's systems send for one fracture: the patient record's
// bundle (Patient, Encounter, Condition, Observations, MedicationAdministrations) and the
// operation planner's bundle (Procedures referring to the fracture by identifier). Used by the
// demo traffic generator, the benchmark and the tests; the FHIR API guide shows the same shapes.
export const SYS = {
  fnr: 'urn:oid:2.16.578.1.12.4.1.4.1',
  dnr: 'urn:oid:2.16.578.1.12.4.1.4.2',
  resh: 'urn:oid:2.16.578.1.12.4.1.4.102',
  ao: 'urn:kvalreg:codesystem:ao-ota-2018',
  /** The AO version of legacy local journals ("2008": hand 24–26, radius and ulna together). */
  aoLegacy: 'urn:kvalreg:codesystem:ao-ota-2008',
  obs: 'urn:kvalreg:codesystem:observation',
  procCategory: 'urn:kvalreg:codesystem:procedure-category',
  reopCause: 'urn:kvalreg:codesystem:reoperation-cause',
  ncsp: 'urn:oid:2.16.578.1.12.4.1.1.7275',
  atc: 'http://www.whocc.no/atc',
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  v3ActCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
} as const;

export interface FractureSpec {
  /** Sender-side identifiers are derived from this id (e.g. "sus-123"). */
  id: string;
  nin: string;
  ninSystem?: string;
  birthDate?: string;
  gender?: 'male' | 'female';
  /** Patient.name as the patient record sends it. */
  name?: { use?: string; given?: string[]; family?: string; text?: string };
  deceasedDate?: string;
  unitResh: string;
  setting: 'EMER' | 'AMB' | 'IMP';
  injuryDateTime: string; // FHIR dateTime, or a date when the time is unknown
  firstContact: string;
  /** The AO/OTA 2018 code; empty for a legacy code that has none (a legacy hip code, sent as aoCodeLegacy alone). */
  aoCode: string;
  /** The code as a legacy journal has it (AO "2008"), sent beside the 2018 code so nothing is lost. */
  aoCodeLegacy?: string;
  /** 'unknown' sends SNOMED CT 261665006 Unknown, which the registry reads as no side. */
  side: 'right' | 'left' | 'bilateral' | 'not_applicable' | 'unknown';
  open?: boolean;
  energy?: 'low' | 'high';
  intent?: 'conservative' | 'operative' | 'temporary_then_surgery';
  failedConservative?: boolean;
  smoker?: boolean;
  vertebralImaging?: string;
  recommendedCentre?: boolean;
  secondaryPrevention?: boolean;
  osteoporosisOffered?: boolean;
  antibiotic?: boolean;
  tetanus?: boolean;
  surgery?: { start: string; ncsp?: string };
  reoperations?: Array<{ id: string; start: string; planned: boolean; cause?: string }>;
}

// SNOMED CT qualifier values: Right, Left, Right and left, Not applicable, Unknown.
const SIDE: Record<FractureSpec['side'], string> = {
  right: '24028007',
  left: '7771000',
  bilateral: '51440002',
  not_applicable: '385432009',
  unknown: '261665006',
};

export function ehrBundle(
  f: FractureSpec,
  type: 'transaction' | 'batch' = 'transaction',
  idSystem = 'urn:oid:2.16.578.1.12.4.1.999.1',
): Record<string, any> {
  const p = `urn:uuid:patient-${f.id}`,
    e = `urn:uuid:encounter-${f.id}`,
    c = `urn:uuid:condition-${f.id}`;
  const ident = (kind: string) => [{ system: `${idSystem}.${kind}`, value: `${f.id}` }];
  const entries: any[] = [
    {
      fullUrl: p,
      resource: {
        resourceType: 'Patient',
        identifier: [{ system: f.ninSystem ?? SYS.fnr, value: f.nin }],
        ...(f.name ? { name: [f.name] } : {}),
        ...(f.birthDate ? { birthDate: f.birthDate } : {}),
        ...(f.gender ? { gender: f.gender } : {}),
        ...(f.deceasedDate ? { deceasedDateTime: f.deceasedDate } : {}),
      },
    },
    {
      fullUrl: e,
      resource: {
        resourceType: 'Encounter',
        identifier: ident('encounter'),
        status: 'finished',
        class: { system: SYS.v3ActCode, code: f.setting },
        subject: { reference: p },
        period: { start: f.firstContact },
        serviceProvider: { identifier: { system: SYS.resh, value: f.unitResh } },
      },
    },
    {
      fullUrl: c,
      resource: {
        resourceType: 'Condition',
        identifier: ident('condition'),
        subject: { reference: p },
        encounter: { reference: e },
        code: {
          coding: [
            ...(f.aoCode ? [{ system: SYS.ao, code: f.aoCode }] : []),
            ...(f.aoCodeLegacy ? [{ system: SYS.aoLegacy, code: f.aoCodeLegacy }] : []),
          ],
        },
        bodySite: [{ coding: [{ system: SYS.snomed, code: SIDE[f.side] }] }],
        onsetDateTime: f.injuryDateTime,
        recordedDate: f.firstContact.slice(0, 10),
      },
    },
  ];
  const obs = (code: string, value: Record<string, unknown>) =>
    entries.push({
      fullUrl: `urn:uuid:obs-${code}-${f.id}`,
      resource: {
        resourceType: 'Observation',
        identifier: ident(`obs-${code}`),
        status: 'final',
        code: { coding: [{ system: SYS.obs, code }] },
        subject: { reference: p },
        encounter: { reference: e },
        focus: [{ reference: c }],
        effectiveDateTime: f.firstContact,
        ...value,
      },
    });
  const codeValue = (code: string) => ({ valueCodeableConcept: { coding: [{ system: SYS.obs, code }] } });
  if (f.open !== undefined) obs('open-fracture', { valueBoolean: f.open });
  if (f.energy) obs('injury-energy', codeValue(f.energy));
  if (f.intent) obs('treatment-intent', codeValue(f.intent));
  if (f.failedConservative !== undefined) obs('failed-conservative', { valueBoolean: f.failedConservative });
  if (f.vertebralImaging) obs('vertebral-imaging', codeValue(f.vertebralImaging));
  if (f.recommendedCentre !== undefined) obs('recommended-centre', { valueBoolean: f.recommendedCentre });
  if (f.secondaryPrevention !== undefined) obs('secondary-prevention-assessed', { valueBoolean: f.secondaryPrevention });
  if (f.osteoporosisOffered !== undefined) obs('osteoporosis-assessment-offered', { valueBoolean: f.osteoporosisOffered });
  if (f.smoker !== undefined)
    entries.push({
      fullUrl: `urn:uuid:smoking-${f.id}`,
      resource: {
        resourceType: 'Observation',
        identifier: ident('smoking'),
        status: 'final',
        code: { coding: [{ system: SYS.loinc, code: '72166-2' }] },
        subject: { reference: p },
        encounter: { reference: e },
        effectiveDateTime: f.firstContact,
        valueCodeableConcept: { coding: [{ system: SYS.snomed, code: f.smoker ? '449868002' : '266919005' }] },
      },
    });
  const med = (kind: string, atc: string, at: string) =>
    entries.push({
      fullUrl: `urn:uuid:med-${kind}-${f.id}`,
      resource: {
        resourceType: 'MedicationAdministration',
        identifier: ident(`med-${kind}`),
        status: 'completed',
        medicationCodeableConcept: { coding: [{ system: SYS.atc, code: atc }] },
        subject: { reference: p },
        context: { reference: e },
        effectiveDateTime: at,
      },
    });
  if (f.antibiotic) med('antibiotic', 'J01DB04', f.surgery?.start ?? f.firstContact);
  if (f.tetanus) med('tetanus', 'J07AM01', f.firstContact);
  return { resourceType: 'Bundle', type, entry: entries.map((x) => ({ ...x, request: { method: 'POST', url: x.resource.resourceType } })) };
}

/** The operation planner's message: it knows the patient and the fracture only by identifier. */
export function plannerBundle(
  f: FractureSpec,
  idSystem = 'urn:oid:2.16.578.1.12.4.1.999.1',
  plannerSystem = 'urn:oid:2.16.578.1.12.4.1.999.2',
): Record<string, any> | null {
  if (!f.surgery && !f.reoperations?.length) return null;
  const subject = { identifier: { system: f.ninSystem ?? SYS.fnr, value: f.nin } };
  const reason = [{ type: 'Condition', identifier: { system: `${idSystem}.condition`, value: f.id } }];
  const proc = (id: string, category: string, start: string, extra: Record<string, unknown> = {}) => ({
    resource: {
      resourceType: 'Procedure',
      identifier: [{ system: `${plannerSystem}.procedure`, value: id }],
      status: 'completed',
      subject,
      category: { coding: [{ system: SYS.procCategory, code: category }] },
      performedPeriod: { start },
      reasonReference: reason,
      ...extra,
    },
    request: { method: 'PUT', url: `Procedure?identifier=${plannerSystem}.procedure|${id}` },
  });
  const entries: any[] = [];
  if (f.surgery)
    entries.push(
      proc(
        `${f.id}-op`,
        'primary',
        f.surgery.start,
        f.surgery.ncsp ? { code: { coding: [{ system: SYS.ncsp, code: f.surgery.ncsp }] } } : {},
      ),
    );
  for (const r of f.reoperations ?? []) {
    entries.push(
      proc(
        `${f.id}-re-${r.id}`,
        r.planned ? 'reoperation-planned' : 'reoperation-unplanned',
        r.start,
        r.cause ? { reasonCode: [{ coding: [{ system: SYS.reopCause, code: r.cause }] }] } : {},
      ),
    );
  }
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
