import type { Encounter, Observation, Patient, Resource, ServiceRequest } from '@medplum/fhirtypes';
import { BSN_SYSTEM } from '../../../src/kernel/fhir/identifiers';
import { ICPC_SYSTEM, NHG_TABLE_14_SYSTEM, SNOMED_SYSTEM } from '../../../src/kernel/fhir/systems';
import type { DataClass } from '../../../src/contracts/sharing';
import { minimise } from '../../../src/policy/minimise';

const patient: Patient = {
  resourceType: 'Patient',
  id: 'child-1',
  meta: { versionId: '3', profile: ['http://nictiz.nl/fhir/StructureDefinition/nl-core-Patient'] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Jan Jansen, 12 jaar</div>' },
  identifier: [{ system: BSN_SYSTEM, value: '111222333' }],
  name: [{ family: 'Jansen', given: ['Jan'], text: 'Jan Jansen' }],
  birthDate: '2013-03-01',
  address: [{ city: 'Elst', text: 'Dorpsstraat 1, Elst' }],
};

/** Extensions on the primitive birthDate, which @medplum/fhirtypes does not model. */
const birthDateExtensions = {
  extension: [{ url: 'http://example.org/birth-time', valueDateTime: '2013-03-01T04:00:00+01:00' }],
};
const patientWithExtensions: Patient = Object.assign({}, patient, { _birthDate: birthDateExtensions });

const encounter: Encounter = {
  resourceType: 'Encounter',
  id: 'enc-1',
  status: 'finished',
  class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
  type: [
    {
      coding: [
        { system: NHG_TABLE_14_SYSTEM, code: '1', display: 'Consult' },
        { system: ICPC_SYSTEM, code: 'P22', display: 'Gedrag kind' },
      ],
      text: 'Gesprek over slaapproblemen en ruzie thuis',
    },
    { coding: [{ system: ICPC_SYSTEM, code: 'Z16' }] },
  ],
  reasonCode: [{ coding: [{ system: ICPC_SYSTEM, code: 'P74', display: 'Angst' }], text: 'angstig sinds scheiding' }],
  period: { start: '2025-06-01T09:00:00+02:00' },
};

const referral: ServiceRequest = {
  resourceType: 'ServiceRequest',
  id: 'sr-1',
  status: 'active',
  intent: 'order',
  subject: { reference: 'Patient/child-1' },
  code: { coding: [{ system: SNOMED_SYSTEM, code: '3457005', display: 'Patient referral' }], text: 'verwijzing' },
  category: [
    {
      coding: [
        { system: 'http://hl7.org/fhir/sid/icpc-2', code: 'P22' },
        { system: SNOMED_SYSTEM, code: '306206005', display: 'Referral to service' },
      ],
    },
  ],
  note: [{ text: 'S: moeder vertelt over ruzies thuis. E: P22. P: verwijzing jeugd-ggz' }],
  reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icpc-2', code: 'P22' }] }],
  authoredOn: '2025-06-01T10:00:00+02:00',
};

const observation: Observation = {
  resourceType: 'Observation',
  id: 'obs-1',
  status: 'final',
  code: { text: 'journaalregel' },
  valueString: 'S: slaapt slecht',
};

const all: Resource[] = [patientWithExtensions, encounter, referral, observation];

type AllowedFields = Partial<Record<DataClass, string[]>>;

describe('minimise', () => {
  it.each<{ name: string; allowed: AllowedFields; expected: unknown[] }>([
    {
      name: 'drops every resource when nothing is allowed',
      allowed: {},
      expected: [],
    },
    {
      name: 'keeps only resourceType, id and meta when a class is allowed without elements',
      allowed: { Patient: [] },
      expected: [{ resourceType: 'Patient', id: 'child-1', meta: patient.meta }],
    },
    {
      name: 'keeps the allow-listed elements and drops the rest, narrative included',
      allowed: { Patient: ['identifier', 'birthDate'] },
      expected: [
        {
          resourceType: 'Patient',
          id: 'child-1',
          meta: patient.meta,
          identifier: patient.identifier,
          birthDate: '2013-03-01',
          _birthDate: birthDateExtensions,
        },
      ],
    },
    {
      name: 'strips free text nested in an allowed element that is not itself free text',
      allowed: { Patient: ['name', 'address'] },
      expected: [
        {
          resourceType: 'Patient',
          id: 'child-1',
          meta: patient.meta,
          name: [{ family: 'Jansen', given: ['Jan'] }],
          address: [{ city: 'Elst' }],
        },
      ],
    },
    {
      name: 'strips ICPC codes and text from an allowed element, dropping what is left empty',
      allowed: { Encounter: ['status', 'class', 'type'] },
      expected: [
        {
          resourceType: 'Encounter',
          id: 'enc-1',
          status: 'finished',
          class: encounter.class,
          type: [{ coding: [{ system: NHG_TABLE_14_SYSTEM, code: '1', display: 'Consult' }] }],
        },
      ],
    },
    {
      name: 'lets a diagnosis through only when the allow-list names reasonCode',
      allowed: { Encounter: ['status', 'reasonCode'] },
      expected: [{ resourceType: 'Encounter', id: 'enc-1', status: 'finished', reasonCode: encounter.reasonCode }],
    },
    {
      name: 'keeps journal lines in note and diagnoses in reasonCode out of a referral unless named',
      allowed: { ServiceRequest: ['status', 'intent', 'code', 'authoredOn'] },
      expected: [
        {
          resourceType: 'ServiceRequest',
          id: 'sr-1',
          status: 'active',
          intent: 'order',
          code: { coding: [{ system: SNOMED_SYSTEM, code: '3457005', display: 'Patient referral' }] },
          authoredOn: '2025-06-01T10:00:00+02:00',
        },
      ],
    },
    {
      name: 'lets journal lines through when the allow-list names note',
      allowed: { ServiceRequest: ['note'] },
      expected: [{ resourceType: 'ServiceRequest', id: 'sr-1', note: referral.note }],
    },
    {
      name: 'treats ICPC-2 codes like ICPC-1-NL codes',
      allowed: { ServiceRequest: ['subject', 'category'], Encounter: ['period'] },
      expected: [
        { resourceType: 'Encounter', id: 'enc-1', period: encounter.period },
        {
          resourceType: 'ServiceRequest',
          id: 'sr-1',
          subject: { reference: 'Patient/child-1' },
          category: [{ coding: [{ system: SNOMED_SYSTEM, code: '306206005', display: 'Referral to service' }] }],
        },
      ],
    },
  ])('$name', ({ allowed, expected }) => {
    expect(minimise(all, allowed)).toEqual(expected);
  });

  it('never lets an ICPC code through under an element that is not a diagnosis element', () => {
    const out = minimise([encounter, referral], { Encounter: ['type', 'class'], ServiceRequest: ['code'] });
    expect(JSON.stringify(out)).not.toContain('icpc');
    expect(JSON.stringify(out)).not.toContain('ruzie');
  });

  it('drops resources of a type that is not a data class even when an allow-list has its name', () => {
    const allowed = { Observation: ['valueString'] } as unknown as AllowedFields;
    expect(minimise([observation], allowed)).toEqual([]);
  });

  it('does not mutate its input and shares no objects with it', () => {
    const input = structuredClone(all);
    const frozen = deepFreeze(structuredClone(all));
    const out = minimise(frozen, { Patient: ['identifier', 'name'], Encounter: ['reasonCode', 'type'] });
    expect(frozen).toEqual(input);

    const outPatient = out[0] as Patient;
    const outEncounter = out[1] as Encounter;
    expect(outPatient).not.toBe(frozen[0]);
    expect(outPatient.meta).not.toBe((frozen[0] as Patient).meta);
    outPatient.identifier?.push({ value: 'x' });
    outEncounter.reasonCode?.push({ text: 'x' });
    expect((frozen[0] as Patient).identifier).toHaveLength(1);
    expect((frozen[1] as Encounter).reasonCode).toHaveLength(1);
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
    Object.freeze(value);
  }
  return value;
}
