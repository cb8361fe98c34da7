import type { HumanName, Patient, RelatedPerson } from '@medplum/fhirtypes';
import { bsnIdentifier, municipalityIdentifier } from '../../../src/kernel/fhir/identifiers';
import {
  EXTENSION,
  getCoding,
  GUARDIAN_RELATIONSHIP_SYSTEM,
  ROLE_CODE_SYSTEM,
  tryTranslate,
} from '../../../src/kernel/fhir/terminology';
import type { ChildData, GuardianData, NameData } from './model';
import { resourceIds } from './resource-ids';

/** A HumanName with only the parts given, or undefined when there are none. */
function humanNameOf(name: NameData | undefined): HumanName | undefined {
  if (!name || (!name.family && !name.given?.length)) {
    return undefined;
  }
  return {
    ...(name.given?.length ? { given: [...name.given] } : {}),
    ...(name.family ? { family: name.family } : {}),
  };
}

/** The child as Patient: BSN, birth date (it drives the consent rules) and the municipality of residence. */
export function buildPatient(agb: string, child: ChildData): Patient {
  const name = humanNameOf(child.name);
  return {
    resourceType: 'Patient',
    id: resourceIds.patient(agb, child.id),
    identifier: [bsnIdentifier(child.bsn)],
    ...(name ? { name: [name] } : {}),
    birthDate: child.birthDate,
    address: [
      {
        extension: [{ url: EXTENSION.municipality, valueIdentifier: municipalityIdentifier(child.municipality) }],
        use: 'home',
      },
    ],
  };
}

/** A parent or guardian as RelatedPerson, with whether they hold parental authority as an explicit boolean. */
export function buildRelatedPerson(agb: string, childId: string, guardian: GuardianData): RelatedPerson {
  const name = humanNameOf(guardian.name);
  const roleCode = tryTranslate(GUARDIAN_RELATIONSHIP_SYSTEM, guardian.relationship, ROLE_CODE_SYSTEM);
  return {
    resourceType: 'RelatedPerson',
    id: resourceIds.relatedPerson(agb, childId, guardian.id),
    extension: [{ url: EXTENSION.parentalAuthority, valueBoolean: guardian.hasAuthority }],
    ...(guardian.bsn ? { identifier: [bsnIdentifier(guardian.bsn)] } : {}),
    patient: { reference: `Patient/${resourceIds.patient(agb, childId)}` },
    relationship: [
      { coding: [getCoding(GUARDIAN_RELATIONSHIP_SYSTEM, guardian.relationship), ...(roleCode ? [roleCode] : [])] },
    ],
    ...(name ? { name: [name] } : {}),
  };
}
