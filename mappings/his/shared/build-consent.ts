import type { Consent, ConsentProvision, Patient, Reference, RelatedPerson } from '@medplum/fhirtypes';
import { agbIdentifier, municipalityIdentifier, sourceIdSystem } from '../../../src/kernel/fhir/identifiers';
import {
  ACT_CODE_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PRIVACY_CONSENT_CATEGORY,
  PRIVACY_CONSENT_SCOPE,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import type {
  ConsentEnteredInErrorData,
  ConsentParty,
  ConsentRecordedData,
  ConsentRuleData,
  ConsentWithdrawnData,
} from './model';
import { resourceIds } from './resource-ids';

function base(
  agb: string,
  childId: string,
  sourceId: string,
  status: 'active' | 'inactive' | 'entered-in-error',
): Consent {
  return {
    resourceType: 'Consent',
    id: resourceIds.consent(agb, sourceId),
    identifier: [{ system: sourceIdSystem(agb, 'consent'), value: sourceId }],
    status,
    scope: { coding: [{ ...PRIVACY_CONSENT_SCOPE }] },
    category: [{ coding: [{ ...PRIVACY_CONSENT_CATEGORY }] }],
    patient: { reference: `Patient/${resourceIds.patient(agb, childId)}` },
  };
}

function performersOf(
  agb: string,
  childId: string,
  parties: readonly ConsentParty[],
): Reference<Patient | RelatedPerson>[] {
  return parties.map((p) =>
    p.kind === 'child'
      ? { reference: `Patient/${resourceIds.patient(agb, childId)}` }
      : { reference: `RelatedPerson/${resourceIds.relatedPerson(agb, childId, p.guardianId)}` },
  );
}

/** FHIR R4 requires a policy or policyRule (ppc-1): opt-in for a permit, opt-out for an objection. */
function policyRuleOf(decision: 'permit' | 'deny'): Consent['policyRule'] {
  return { coding: [{ system: ACT_CODE_SYSTEM, code: decision === 'permit' ? 'OPTIN' : 'OPTOUT' }] };
}

function ruleParts(rule: ConsentRuleData): ConsentProvision {
  return {
    type: rule.decision,
    ...(rule.period
      ? { period: { start: rule.period.start, ...(rule.period.end ? { end: rule.period.end } : {}) } }
      : {}),
    ...(rule.purposes.length ? { purpose: rule.purposes.map((code) => ({ system: PURPOSE_SYSTEM, code })) } : {}),
    ...(rule.dataClasses.length
      ? { class: rule.dataClasses.map((code) => ({ system: RESOURCE_TYPE_SYSTEM, code })) }
      : {}),
  };
}

/**
 * A recorded consent (or objection) as the policy engine reads it: who may receive (the municipality, role IRCP),
 * for which purposes, which data classes, in which period, with nested exceptions.
 */
export function buildRecordedConsent(agb: string, childId: string, c: ConsentRecordedData): Consent {
  const main = ruleParts(c);
  return {
    ...base(agb, childId, c.id, 'active'),
    dateTime: c.dateTime,
    performer: performersOf(agb, childId, c.givenBy),
    organization: [{ identifier: agbIdentifier(agb) }],
    policyRule: policyRuleOf(c.decision),
    provision: {
      type: main.type,
      ...(main.period ? { period: main.period } : {}),
      actor: [
        {
          role: { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: 'IRCP', display: 'information recipient' }] },
          reference: {
            identifier: municipalityIdentifier(c.recipient.municipality),
            ...(c.recipient.name ? { display: c.recipient.name } : {}),
          },
        },
      ],
      ...(main.purpose ? { purpose: main.purpose } : {}),
      ...(main.class ? { class: main.class } : {}),
      ...(c.exceptions.length ? { provision: c.exceptions.map(ruleParts) } : {}),
    },
  };
}

/**
 * A consent recorded by mistake: the same Consent id with status entered-in-error, so the registry voids the
 * recorded one in place. FHIR R4 needs a policy or policyRule (ppc-1); the voided consent's own is kept in the
 * registry, so this one carries the neutral opt-in code only to be valid on its own.
 */
export function buildEnteredInErrorConsent(agb: string, childId: string, c: ConsentEnteredInErrorData): Consent {
  return {
    ...base(agb, childId, c.id, 'entered-in-error'),
    dateTime: c.dateTime,
    organization: [{ identifier: agbIdentifier(agb) }],
    policyRule: policyRuleOf('permit'),
  };
}

/** A withdrawal: the same Consent id with status inactive, so it supersedes the recorded one in place. */
export function buildWithdrawnConsent(agb: string, childId: string, c: ConsentWithdrawnData): Consent {
  const performer = performersOf(agb, childId, c.withdrawnBy);
  return {
    ...base(agb, childId, c.id, 'inactive'),
    dateTime: c.dateTime,
    ...(performer.length ? { performer } : {}),
    organization: [{ identifier: agbIdentifier(agb) }],
    policyRule: policyRuleOf(c.decision),
  };
}
