// Trauma events as the FHIR transaction a hospital's record system sends (the shape
// docs/examples/trauma-*.json documents): the trauma-reception Encounter as anchor, Observations,
// AIS-coded Conditions and Procedures referring to it.
export interface TraumaSpec {
  id: string;
  nin: string;
  /** Patient.name as the patient record sends it. */
  name?: { use?: string; given?: string[]; family?: string };
  unitResh: string;
  arrival: string; // dateTime with zone
  discharge?: { at: string; disposition: string };
  traumaTeam: boolean;
  inclusionBasis?: string; // urn:kvalreg:codesystem:ntr-inclusion code
  icd10Reason?: string; // an ICD-10 code in Encounter.reasonCode
  transferredFrom?: string; // RESH id of the sending hospital
  accident?: { at: string; estimated?: boolean };
  mechanism?: string;
  intention?: string;
  injuryType?: 'blunt' | 'penetrating';
  arrivalVitals?: { gcs?: number; sbp?: number; rr?: number };
  prehospitalVitals?: { gcs?: number; sbp?: number; rr?: number };
  ais?: string[];
  ct?: string; // start of the first CT
  intubated?: boolean;
  emergencySurgery?: string;
}

const SYS = 'urn:oid:2.16.578.1.12.4.1.999.7';
const RESH = 'urn:oid:2.16.578.1.12.4.1.4.102';
const OBS = 'urn:kvalreg:codesystem:observation';

export function traumaBundle(s: TraumaSpec): Record<string, any> {
  const patient = `urn:uuid:patient-${s.id}`,
    enc = `urn:uuid:encounter-${s.id}`;
  const entries: Array<Record<string, any>> = [];
  const add = (type: string, key: string, resource: Record<string, any>) =>
    entries.push({
      fullUrl: `urn:uuid:${type.toLowerCase()}-${s.id}-${key}`,
      resource: {
        resourceType: type,
        identifier: [{ system: `${SYS}.${type.toLowerCase()}`, value: `${s.id}-${key}` }],
        subject: { reference: patient },
        ...resource,
      },
      request: { method: 'POST', url: type },
    });
  entries.push({
    fullUrl: patient,
    resource: {
      resourceType: 'Patient',
      identifier: [{ system: 'urn:oid:2.16.578.1.12.4.1.4.1', value: s.nin }],
      ...(s.name ? { name: [s.name] } : {}),
    },
    request: { method: 'POST', url: 'Patient' },
  });
  const reasons: Array<Record<string, any>> = [];
  if (s.inclusionBasis) reasons.push({ coding: [{ system: 'urn:kvalreg:codesystem:ntr-inclusion', code: s.inclusionBasis }] });
  if (s.icd10Reason) reasons.push({ coding: [{ system: 'urn:oid:2.16.578.1.12.4.1.1.7110', code: s.icd10Reason }] });
  entries.push({
    fullUrl: enc,
    resource: {
      resourceType: 'Encounter',
      identifier: [{ system: `${SYS}.encounter`, value: s.id }],
      status: s.discharge ? 'finished' : 'in-progress',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'EMER' },
      type: [
        {
          coding: [
            { system: 'urn:kvalreg:codesystem:encounter-type', code: 'trauma-reception' },
            ...(s.traumaTeam ? [{ system: 'urn:kvalreg:codesystem:encounter-type', code: 'trauma-team-activation' }] : []),
          ],
        },
      ],
      subject: { reference: patient },
      period: { start: s.arrival, ...(s.discharge ? { end: s.discharge.at } : {}) },
      ...(reasons.length ? { reasonCode: reasons } : {}),
      hospitalization: {
        admitSource: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/admit-source', code: s.transferredFrom ? 'hosp-trans' : 'emd' }],
        },
        ...(s.transferredFrom ? { origin: { identifier: { system: RESH, value: s.transferredFrom } } } : {}),
        ...(s.discharge
          ? {
              dischargeDisposition: {
                coding: [{ system: 'http://terminology.hl7.org/CodeSystem/discharge-disposition', code: s.discharge.disposition }],
              },
            }
          : {}),
      },
      serviceProvider: { identifier: { system: RESH, value: s.unitResh } },
    },
    request: { method: 'POST', url: 'Encounter' },
  });
  const obs = (key: string, code: string, value: Record<string, any>, extra: Record<string, any> = {}) =>
    add('Observation', key, {
      status: 'final',
      code: { coding: [{ system: OBS, code }] },
      encounter: { reference: enc },
      ...value,
      ...extra,
    });
  if (s.accident)
    obs(
      'accident',
      'accident-time',
      { effectiveDateTime: s.accident.at, valueDateTime: s.accident.at },
      { component: [{ code: { coding: [{ system: OBS, code: 'estimated' }] }, valueBoolean: s.accident.estimated ?? false }] },
    );
  const coded = (system: string, code: string) => ({ valueCodeableConcept: { coding: [{ system, code }] } });
  if (s.mechanism) obs('mechanism', 'injury-mechanism', coded('urn:kvalreg:codesystem:ntr-mechanism', s.mechanism));
  if (s.intention) obs('intention', 'injury-intention', coded('urn:kvalreg:codesystem:ntr-intention', s.intention));
  if (s.injuryType) obs('injury-type', 'dominant-injury-type', coded('urn:kvalreg:codesystem:ntr-injury-type', s.injuryType));
  const vitals = (phase: string, v: { gcs?: number; sbp?: number; rr?: number } | undefined) => {
    for (const [k, loinc, unit] of [
      ['gcs', '9269-2', '{score}'],
      ['sbp', '8480-6', 'mm[Hg]'],
      ['rr', '9279-1', '/min'],
    ] as const) {
      if (v?.[k] === undefined) continue;
      add('Observation', `${phase}-${k}`, {
        status: 'final',
        encounter: { reference: enc },
        category: [{ coding: [{ system: 'urn:kvalreg:codesystem:trauma-phase', code: phase }] }],
        code: { coding: [{ system: 'http://loinc.org', code: loinc }] },
        valueQuantity: { value: v[k], unit, system: 'http://unitsofmeasure.org', code: unit },
      });
    }
  };
  vitals('emergency-department', s.arrivalVitals);
  vitals('prehospital', s.prehospitalVitals);
  for (const [i, code] of (s.ais ?? []).entries()) {
    add('Condition', `ais${i}`, { encounter: { reference: enc }, code: { coding: [{ system: 'urn:kvalreg:codesystem:ais-2008', code }] } });
  }
  const proc = (key: string, resource: Record<string, any>) =>
    add('Procedure', key, { status: 'completed', encounter: { reference: enc }, ...resource });
  if (s.ct) proc('ct', { code: { coding: [{ system: 'http://snomed.info/sct', code: '77477000' }] }, performedDateTime: s.ct });
  if (s.intubated)
    proc('intubation', { code: { coding: [{ system: 'http://snomed.info/sct', code: '112798008' }] }, performedDateTime: s.arrival });
  if (s.emergencySurgery)
    proc('surgery', {
      category: { coding: [{ system: 'urn:kvalreg:codesystem:procedure-category', code: 'emergency-surgery' }] },
      code: { text: 'Laparotomi' },
      performedPeriod: { start: s.emergencySurgery },
    });
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
