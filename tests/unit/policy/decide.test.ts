import type { Consent, ConsentProvisionActor } from '@medplum/fhirtypes';
import type { LegalBasis } from '../../../src/policy/agreement';
import { decide, decideReferralStatus } from '../../../src/policy/decide';
import type { DecisionFacts, DecisionReasonCode, DecisionRequest } from '../../../src/policy/types';
import {
  bornAged,
  buildAgreement,
  buildConsent,
  buildFacts,
  buildRequest,
  CHILD,
  CHILD_ID,
  FATHER,
  FATHER_ID,
  MOTHER,
  MOTHER_ID,
  MUNICIPALITY,
  OTHER_MUNICIPALITY,
  recipient,
  rule,
  type ConsentSpec,
} from './builders';

const motherConsent = (spec: ConsentSpec = {}): Consent => buildConsent({ id: 'c-mother', by: MOTHER, ...spec });
const fatherConsent = (spec: ConsentSpec = {}): Consent => buildConsent({ id: 'c-father', by: FATHER, ...spec });
const childConsent = (spec: ConsentSpec = {}): Consent => buildConsent({ id: 'c-child', by: CHILD, ...spec });
const guardiansConsent = (): Consent[] => [motherConsent(), fatherConsent()];
const everyoneConsents = (): Consent[] => [childConsent(), motherConsent(), fatherConsent()];

const aged = (age: number): DecisionFacts['patient'] => ({ id: CHILD_ID, birthDate: bornAged(age) });
const born = (birthDate: string): DecisionFacts['patient'] => ({ id: CHILD_ID, birthDate });
const motherOnlyWithAuthority: DecisionFacts['guardians'] = [
  { relatedPersonId: MOTHER_ID, hasAuthority: true },
  { relatedPersonId: FATHER_ID, hasAuthority: false },
];
const guardianRuleAny = [buildAgreement({ guardianRule: 'any' })];
const onLegalBasis = (legalBasis: LegalBasis, objectionBlocks = true) => [
  buildAgreement({ legalBasis, objectionBlocks }),
];

/** Tomorrow, yesterday and later today, seen from the default moment (15 June 2025, 12:00 Amsterdam). */
const FROM_TOMORROW = { start: '2025-06-16', end: '2026-12-31' };
const UNTIL_YESTERDAY = { start: '2025-01-01', end: '2025-06-14' };
/** 23:30 UTC on 14 June is already 15 June in Amsterdam (CEST, UTC+2). */
const JUNE_15_0030_AMSTERDAM = new Date('2025-06-14T22:30:00Z');
const JUNE_14_235959_AMSTERDAM = new Date('2025-06-14T21:59:59Z');
/** In winter Amsterdam is UTC+1. */
const JAN_15_0000_AMSTERDAM = new Date('2025-01-14T23:00:00Z');
const JAN_14_235959_AMSTERDAM = new Date('2025-01-14T22:59:59.999Z');

interface Case {
  readonly name: string;
  readonly request?: Partial<DecisionRequest>;
  readonly facts?: Partial<DecisionFacts>;
  readonly effect: 'permit' | 'deny';
  readonly codes: readonly DecisionReasonCode[];
  /** Checked when given: the consent ids the decision rests on (order-insensitive). */
  readonly consentIds?: readonly string[];
  /** Checked when given; null: no agreement in the decision. */
  readonly agreement?: { readonly id: string; readonly version: number } | null;
  readonly legalBasis?: LegalBasis;
}

const agreementCases: Case[] = [
  {
    name: 'permits a referral for an 8-year-old when both guardians with authority consented',
    facts: { consents: guardiansConsent() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-mother', 'c-father'],
    agreement: { id: 'agr-overbetuwe', version: 1 },
    legalBasis: 'consent',
  },
  {
    name: 'denies sharing when no agreement is known at all',
    facts: { agreements: [], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['no-agreement'],
    agreement: null,
  },
  {
    name: 'denies sharing with a municipality the practice has no agreement with',
    request: { municipalityCode: OTHER_MUNICIPALITY },
    facts: { consents: [motherConsent({ recipients: [OTHER_MUNICIPALITY] }), fatherConsent({ recipients: null })] },
    effect: 'deny',
    codes: ['no-agreement'],
  },
  {
    name: 'denies sharing when the only agreement is with another practice',
    facts: {
      agreements: [buildAgreement({ practice: { agb: '76543210' } })],
      consents: guardiansConsent(),
    },
    effect: 'deny',
    codes: ['no-agreement'],
  },
  {
    name: 'denies sharing under a suspended agreement',
    facts: { agreements: [buildAgreement({ status: 'suspended' })], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['agreement-not-active'],
    agreement: null,
  },
  {
    name: 'denies sharing under a terminated agreement',
    facts: { agreements: [buildAgreement({ status: 'terminated' })], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['agreement-not-active'],
  },
  {
    name: 'denies sharing when the agreement is still a draft',
    facts: { agreements: [buildAgreement({ status: 'draft' })], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['agreement-not-active'],
  },
  {
    name: 'denies sharing the day after the agreement ended',
    facts: { agreements: [buildAgreement({ validTo: '2025-06-14' })], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['agreement-expired'],
  },
  {
    name: 'permits sharing on the last day of the agreement',
    facts: { agreements: [buildAgreement({ validTo: '2025-06-15' })], consents: guardiansConsent() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies sharing the day before the agreement takes effect',
    facts: { agreements: [buildAgreement({ validFrom: '2025-06-16' })], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['agreement-not-yet-valid'],
  },
  {
    name: 'permits sharing on the first day of the agreement',
    facts: { agreements: [buildAgreement({ validFrom: '2025-06-15' })], consents: guardiansConsent() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies sharing at 00:30 Amsterdam time after the agreement ended, though it is still that day in UTC',
    request: { at: JUNE_15_0030_AMSTERDAM },
    facts: { agreements: [buildAgreement({ validTo: '2025-06-14' })], consents: guardiansConsent() },
    effect: 'deny',
    codes: ['agreement-expired'],
  },
  {
    name: 'permits sharing at 00:30 Amsterdam time on the first day of the agreement, though UTC is a day behind',
    request: { at: JUNE_15_0030_AMSTERDAM },
    facts: { agreements: [buildAgreement({ validFrom: '2025-06-15' })], consents: guardiansConsent() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies sharing for a purpose the agreement does not name',
    request: { purpose: 'monitoring' },
    facts: { consents: guardiansConsent() },
    effect: 'deny',
    codes: ['purpose-not-covered'],
  },
  {
    name: 'denies sharing a data class the agreement does not cover',
    request: { dataClasses: ['Patient', 'Task'] },
    facts: { consents: guardiansConsent() },
    effect: 'deny',
    codes: ['class-not-covered'],
  },
  {
    name: 'denies sharing when the newest version of the agreement suspends it',
    facts: {
      agreements: [buildAgreement({ version: 1 }), buildAgreement({ version: 2, status: 'suspended' })],
      consents: guardiansConsent(),
    },
    effect: 'deny',
    codes: ['agreement-not-active'],
  },
  {
    name: 'permits sharing under the newest version when it reactivates a suspended agreement',
    facts: {
      agreements: [buildAgreement({ version: 2 }), buildAgreement({ version: 1, status: 'suspended' })],
      consents: guardiansConsent(),
    },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    agreement: { id: 'agr-overbetuwe', version: 2 },
  },
  {
    name: 'keeps sharing under the version in force while a newer version is only a draft',
    facts: {
      agreements: [buildAgreement({ version: 1 }), buildAgreement({ version: 2, status: 'draft' })],
      consents: guardiansConsent(),
    },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    agreement: { id: 'agr-overbetuwe', version: 1 },
  },
  {
    name: 'keeps sharing under the version in force while a newer version takes effect next month',
    facts: {
      agreements: [buildAgreement({ version: 1 }), buildAgreement({ version: 2, validFrom: '2025-07-01' })],
      consents: guardiansConsent(),
    },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    agreement: { id: 'agr-overbetuwe', version: 1 },
  },
  {
    name: 'denies a data class that the newest version of the agreement no longer covers',
    facts: {
      agreements: [
        buildAgreement({ version: 1 }),
        buildAgreement({ version: 2, dataClasses: { Patient: { fields: ['identifier'] } } }),
      ],
      consents: guardiansConsent(),
    },
    effect: 'deny',
    codes: ['class-not-covered'],
  },
  {
    name: 'gives the reason of the agreement that came closest when none fits',
    facts: {
      agreements: [
        buildAgreement({ id: 'agr-a', status: 'suspended' }),
        buildAgreement({ id: 'agr-b', purposes: ['monitoring'] }),
        buildAgreement({ id: 'agr-c', municipality: { code: OTHER_MUNICIPALITY, name: 'Lingewaard' } }),
      ],
      consents: guardiansConsent(),
    },
    effect: 'deny',
    codes: ['purpose-not-covered'],
  },
  {
    name: 'gives the reason of the first agreement by id when two come equally close',
    facts: {
      agreements: [
        buildAgreement({ id: 'agr-b', validTo: '2025-06-14' }),
        buildAgreement({ id: 'agr-a', validFrom: '2025-07-01' }),
      ],
      consents: guardiansConsent(),
    },
    effect: 'deny',
    codes: ['agreement-not-yet-valid'],
  },
  {
    name: 'denies a request that names no data class',
    request: { dataClasses: [] },
    facts: { consents: guardiansConsent() },
    effect: 'deny',
    codes: ['class-not-covered'],
  },
  {
    name: 'permits on another fitting agreement with a legal basis when the consent-based one lacks consent',
    facts: {
      agreements: [buildAgreement({ id: 'agr-a' }), buildAgreement({ id: 'agr-b', legalBasis: 'public-task' })],
    },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
    agreement: { id: 'agr-b', version: 1 },
    legalBasis: 'public-task',
  },
];

const whoConsentsCases: Case[] = [
  {
    name: 'denies sharing for an 8-year-old when only one of two guardians with authority consented (rule all)',
    facts: { consents: [motherConsent()] },
    effect: 'deny',
    codes: ['consent-missing-guardian'],
    consentIds: [],
    agreement: { id: 'agr-overbetuwe', version: 1 },
    legalBasis: 'consent',
  },
  {
    name: 'permits sharing for an 8-year-old when one of two guardians consented and the rule is any',
    facts: { agreements: guardianRuleAny, consents: [motherConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-mother'],
  },
  {
    name: 'denies sharing when one guardian consented and the other objects (rule all)',
    facts: { consents: [motherConsent(), fatherConsent({ type: 'deny' })] },
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-father'],
  },
  {
    name: 'denies sharing when one guardian consented and the other objects, even under rule any',
    facts: { agreements: guardianRuleAny, consents: [motherConsent(), fatherConsent({ type: 'deny' })] },
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-father'],
  },
  {
    name: 'denies sharing when both guardians object, whatever the rule',
    facts: {
      agreements: guardianRuleAny,
      consents: [motherConsent({ type: 'deny' }), fatherConsent({ type: 'deny' })],
    },
    effect: 'deny',
    codes: ['consent-denied', 'consent-denied'],
    consentIds: ['c-mother', 'c-father'],
  },
  {
    name: "denies sharing for an 8-year-old on the child's own consent alone",
    facts: { consents: [childConsent()] },
    effect: 'deny',
    codes: ['consent-missing-guardian', 'consent-missing-guardian'],
  },
  {
    name: 'permits sharing when the only guardian with authority consented and the other has no authority',
    facts: { guardians: motherOnlyWithAuthority, consents: [motherConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-mother'],
  },
  {
    name: 'denies sharing when only a guardian without authority consented',
    facts: { guardians: motherOnlyWithAuthority, consents: [fatherConsent()] },
    effect: 'deny',
    codes: ['consent-missing-guardian'],
  },
  {
    name: 'ignores an objection by a guardian without authority',
    facts: { guardians: motherOnlyWithAuthority, consents: [motherConsent(), fatherConsent({ type: 'deny' })] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-mother'],
  },
  {
    name: 'denies sharing for an 8-year-old when no guardian holds authority',
    facts: {
      guardians: [
        { relatedPersonId: MOTHER_ID, hasAuthority: false },
        { relatedPersonId: FATHER_ID, hasAuthority: false },
      ],
      consents: guardiansConsent(),
    },
    effect: 'deny',
    codes: ['no-guardian-with-authority'],
  },
  {
    name: 'denies sharing for a 14-year-old who consented when no guardian is known',
    facts: { patient: aged(14), guardians: [], consents: [childConsent()] },
    effect: 'deny',
    codes: ['no-guardian-with-authority'],
  },
  {
    name: 'does not count a consent by a related person who is not a known guardian',
    facts: { consents: [motherConsent(), buildConsent({ id: 'c-stranger', by: 'RelatedPerson/stranger-1' })] },
    effect: 'deny',
    codes: ['consent-missing-guardian'],
  },
  {
    name: 'permits sharing for a 14-year-old when the child and both guardians consented',
    facts: { patient: aged(14), consents: everyoneConsents() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-child', 'c-mother', 'c-father'],
  },
  {
    name: 'denies sharing when a 14-year-old has not consented',
    facts: { patient: aged(14), consents: guardiansConsent() },
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'denies sharing when a 14-year-old consented but the guardians did not',
    facts: { patient: aged(14), consents: [childConsent()] },
    effect: 'deny',
    codes: ['consent-missing-guardian', 'consent-missing-guardian'],
  },
  {
    name: 'denies sharing when a 14-year-old objects though both guardians consented',
    facts: { patient: aged(14), consents: [childConsent({ type: 'deny' }), ...guardiansConsent()] },
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-child'],
  },
  {
    name: 'permits sharing for a 14-year-old with one guardian under rule any',
    facts: { patient: aged(14), agreements: guardianRuleAny, consents: [childConsent(), motherConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-child', 'c-mother'],
  },
  {
    name: "permits sharing for a 16-year-old on the child's consent alone",
    facts: { patient: aged(16), consents: [childConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-child'],
  },
  {
    name: 'denies sharing for a 16-year-old when only the guardians consented',
    facts: { patient: aged(16), consents: guardiansConsent() },
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'denies sharing for a 17-year-old when only a guardian consented',
    facts: { patient: aged(17), consents: [motherConsent()] },
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'permits sharing for a 17-year-old who consented although a guardian objects',
    facts: { patient: aged(17), consents: [childConsent(), motherConsent({ type: 'deny' })] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-child'],
  },
  {
    name: 'permits sharing for a 17-year-old who consented when no guardian is known',
    facts: { patient: aged(17), guardians: [], consents: [childConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies sharing when the birth date is unknown',
    facts: { patient: { id: CHILD_ID }, consents: everyoneConsents() },
    effect: 'deny',
    codes: ['birth-date-unknown'],
    agreement: { id: 'agr-overbetuwe', version: 1 },
    legalBasis: 'consent',
  },
  {
    name: 'denies sharing when the birth date is not a real date',
    facts: { patient: born('2015-02-30'), consents: everyoneConsents() },
    effect: 'deny',
    codes: ['birth-date-unknown'],
  },
  {
    name: 'denies sharing when only the birth year is known',
    facts: { patient: born('2015'), consents: everyoneConsents() },
    effect: 'deny',
    codes: ['birth-date-unknown'],
  },
  {
    name: 'counts one consent signed by both guardians for each of them',
    facts: { consents: [buildConsent({ id: 'c-both', by: [MOTHER, FATHER] })] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-both'],
  },
];

const birthdayCases: Case[] = [
  {
    name: 'asks the child too on the day of their 12th birthday',
    facts: { patient: born('2013-06-15'), consents: guardiansConsent() },
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'asks only the guardians the day before the 12th birthday',
    facts: { patient: born('2013-06-16'), consents: guardiansConsent() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'asks only the child on the day of their 16th birthday',
    facts: { patient: born('2009-06-15'), consents: [childConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'still asks the guardians the day before the 16th birthday',
    facts: { patient: born('2009-06-16'), consents: [childConsent()] },
    effect: 'deny',
    codes: ['consent-missing-guardian', 'consent-missing-guardian'],
  },
  {
    name: 'counts the 16th birthday from midnight in Amsterdam, while it is still the day before in UTC',
    request: { at: JUNE_15_0030_AMSTERDAM },
    facts: { patient: born('2009-06-15'), consents: [childConsent()] },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'still asks the guardians one second before midnight in Amsterdam on the eve of the 16th birthday',
    request: { at: JUNE_14_235959_AMSTERDAM },
    facts: { patient: born('2009-06-15'), consents: [childConsent()] },
    effect: 'deny',
    codes: ['consent-missing-guardian', 'consent-missing-guardian'],
  },
  {
    name: 'asks the child from midnight in Amsterdam on the 12th birthday in winter time',
    request: { at: JAN_15_0000_AMSTERDAM },
    facts: { patient: born('2013-01-15'), consents: guardiansConsent() },
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'asks only the guardians at the last moment before the 12th birthday in winter time',
    request: { at: JAN_14_235959_AMSTERDAM },
    facts: { patient: born('2013-01-15'), consents: guardiansConsent() },
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
];

/** A 17-year-old decides alone, so these cases look at one person's consents. */
const seventeen = (consents: Consent[]): Partial<DecisionFacts> => ({ patient: aged(17), consents });

const consentCases: Case[] = [
  {
    name: 'does not count a consent that is valid from tomorrow',
    facts: seventeen([childConsent({ period: FROM_TOMORROW })]),
    effect: 'deny',
    codes: ['consent-not-yet-valid'],
    consentIds: ['c-child'],
  },
  {
    name: 'does not count a consent that expired yesterday',
    facts: seventeen([childConsent({ period: UNTIL_YESTERDAY })]),
    effect: 'deny',
    codes: ['consent-expired'],
    consentIds: ['c-child'],
  },
  {
    name: 'counts a consent on its last day',
    facts: seventeen([childConsent({ period: { start: '2025-01-01', end: '2025-06-15' } })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'counts a consent on its first day',
    facts: seventeen([childConsent({ period: { start: '2025-06-15' } })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'does not count a consent that starts later today at a given time',
    facts: seventeen([childConsent({ period: { start: '2025-06-15T14:00:00+02:00' } })]),
    effect: 'deny',
    codes: ['consent-not-yet-valid'],
  },
  {
    name: 'does not count a consent that ended earlier today at a given time',
    facts: seventeen([childConsent({ period: { start: '2025-01-01', end: '2025-06-15T11:00:00+02:00' } })]),
    effect: 'deny',
    codes: ['consent-expired'],
  },
  {
    name: 'treats a consent ending on 14 June as expired at 00:30 Amsterdam time on 15 June',
    request: { at: JUNE_15_0030_AMSTERDAM },
    facts: seventeen([childConsent({ period: { start: '2025-01-01', end: '2025-06-14' } })]),
    effect: 'deny',
    codes: ['consent-expired'],
  },
  {
    name: 'reports a withdrawn consent when the only permit is inactive',
    facts: seventeen([childConsent({ status: 'inactive' })]),
    effect: 'deny',
    codes: ['consent-withdrawn'],
    consentIds: ['c-child'],
  },
  {
    name: 'does not count a consent entered in error',
    facts: seventeen([childConsent({ status: 'entered-in-error' })]),
    effect: 'deny',
    codes: ['consent-missing-child'],
    consentIds: [],
  },
  {
    name: 'does not count a draft consent',
    facts: seventeen([childConsent({ status: 'draft' })]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'does not count a proposed consent',
    facts: seventeen([childConsent({ status: 'proposed' })]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'does not count a rejected consent',
    facts: seventeen([childConsent({ status: 'rejected' })]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'does not count a consent for another municipality',
    facts: seventeen([childConsent({ recipients: [OTHER_MUNICIPALITY] })]),
    effect: 'deny',
    codes: ['actor-not-covered'],
    consentIds: ['c-child'],
  },
  {
    name: 'does not count a consent naming the municipality in a role other than recipient',
    facts: seventeen([childConsent({ actor: [recipient(MUNICIPALITY, 'PRF')] })]),
    effect: 'deny',
    codes: ['actor-not-covered'],
  },
  {
    name: 'does not count a consent naming the municipality code under another identifier system',
    facts: seventeen([
      childConsent({
        actor: [
          {
            role: recipient().role,
            reference: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/ura', value: MUNICIPALITY } },
          },
        ],
      }),
    ]),
    effect: 'deny',
    codes: ['actor-not-covered'],
  },
  {
    name: 'counts a consent that names no recipient at all',
    facts: seventeen([childConsent({ recipients: null })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'counts a consent that names this municipality among others',
    facts: seventeen([childConsent({ recipients: [OTHER_MUNICIPALITY, MUNICIPALITY] })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'does not count a consent for another purpose',
    facts: seventeen([childConsent({ purposes: ['contact-registration'] })]),
    effect: 'deny',
    codes: ['consent-purpose-not-covered'],
  },
  {
    name: 'counts a consent that names no purpose',
    facts: seventeen([childConsent({ purposes: null })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies when the consent covers only some of the requested data classes',
    facts: seventeen([childConsent({ classes: ['Patient'] })]),
    effect: 'deny',
    codes: ['consent-class-not-covered'],
  },
  {
    name: 'permits when the consent names every requested data class',
    facts: seventeen([childConsent({ classes: ['Patient', 'ServiceRequest', 'Encounter'] })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'permits classes outside a nested deny for encounters',
    facts: seventeen([childConsent({ exceptions: [rule({ type: 'deny', classes: ['Encounter'] })] })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies encounters excluded by a nested deny inside a permit',
    request: { dataClasses: ['Patient', 'Encounter'] },
    facts: seventeen([childConsent({ exceptions: [rule({ type: 'deny', classes: ['Encounter'] })] })]),
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-child'],
  },
  {
    name: 'ignores a nested deny that applies only to another municipality',
    facts: seventeen([
      childConsent({ recipients: null, exceptions: [rule({ type: 'deny', recipients: [OTHER_MUNICIPALITY] })] }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'permits what a nested permit allows inside a deny-everything consent',
    facts: seventeen([
      childConsent({
        type: 'deny',
        period: null,
        recipients: null,
        purposes: null,
        exceptions: [rule({ type: 'permit', recipients: [MUNICIPALITY], purposes: ['referral'] })],
      }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
  },
  {
    name: 'denies what the nested permit of a deny-everything consent does not allow',
    request: { purpose: 'contact-registration' },
    facts: seventeen([
      childConsent({
        type: 'deny',
        period: null,
        recipients: null,
        purposes: null,
        exceptions: [rule({ type: 'permit', recipients: [MUNICIPALITY], purposes: ['referral'] })],
      }),
    ]),
    effect: 'deny',
    codes: ['consent-denied'],
  },
  {
    name: 'lets a later permit supersede an earlier objection',
    facts: seventeen([
      childConsent({ id: 'c-old', type: 'deny', dateTime: '2025-02-01T10:00:00+01:00' }),
      childConsent({ id: 'c-new', dateTime: '2025-03-01T10:00:00+01:00' }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-new'],
  },
  {
    name: 'lets a later objection supersede an earlier permit',
    facts: seventeen([
      childConsent({ id: 'c-new', type: 'deny', dateTime: '2025-03-01T10:00:00+01:00' }),
      childConsent({ id: 'c-old', dateTime: '2025-02-01T10:00:00+01:00' }),
    ]),
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-new'],
  },
  {
    name: 'lets a deny win over a permit of the same moment and specificity',
    facts: seventeen([
      childConsent({ id: 'c-permit', dateTime: '2025-03-01T10:00:00+01:00' }),
      childConsent({ id: 'c-deny', type: 'deny', dateTime: '2025-03-01T10:00:00+01:00' }),
    ]),
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-deny'],
  },
  {
    name: 'compares consent moments across time zones',
    facts: seventeen([
      childConsent({ id: 'c-deny', type: 'deny', dateTime: '2025-03-01T10:00:00+01:00' }),
      childConsent({ id: 'c-permit', dateTime: '2025-03-01T09:30:00Z' }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-permit'],
  },
  {
    name: 'lets a later plain permit supersede an earlier nested deny for encounters',
    request: { dataClasses: ['Patient', 'Encounter'] },
    facts: seventeen([
      childConsent({
        id: 'c-old',
        dateTime: '2025-02-01T10:00:00+01:00',
        exceptions: [rule({ type: 'deny', classes: ['Encounter'] })],
      }),
      childConsent({ id: 'c-new', dateTime: '2025-03-01T10:00:00+01:00' }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-new'],
  },
  {
    name: 'keeps an earlier permit while a later objection is not yet valid',
    facts: seventeen([
      childConsent({ id: 'c-old', dateTime: '2025-02-01T10:00:00+01:00' }),
      childConsent({ id: 'c-new', type: 'deny', dateTime: '2025-06-01T10:00:00+02:00', period: FROM_TOMORROW }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-old'],
  },
  {
    name: 'permits on an active consent even when an older one was withdrawn',
    facts: seventeen([childConsent({ id: 'c-old', status: 'inactive' }), childConsent({ id: 'c-new' })]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-new'],
  },
  {
    name: 'does not count a consent of another scope than patient privacy',
    facts: seventeen([
      childConsent({
        raw: {
          scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }] },
        },
      }),
    ]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'does not count a consent of another category',
    facts: seventeen([
      childConsent({ raw: { category: [{ coding: [{ system: 'http://loinc.org', code: '57016-8' }] }] } }),
    ]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'does not count a consent about another patient',
    facts: seventeen([childConsent({ patient: 'Patient/child-2' })]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'does not let a permit limited to some codes allow a whole data class',
    facts: seventeen([
      childConsent({ extra: { code: [{ coding: [{ system: 'http://snomed.info/sct', code: '3457005' }] }] } }),
    ]),
    effect: 'deny',
    codes: ['consent-class-not-covered'],
  },
  {
    name: 'honours an objection limited to some codes for the whole data class',
    facts: seventeen([
      childConsent({ id: 'c-permit' }),
      childConsent({
        id: 'c-deny',
        type: 'deny',
        dateTime: '2025-03-01T10:00:00+01:00',
        extra: { code: [{ coding: [{ system: 'http://snomed.info/sct', code: '3457005' }] }] },
      }),
    ]),
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-deny'],
  },
  {
    name: 'does not act on a consent that does not say whether it permits or denies',
    facts: seventeen([childConsent({ raw: { provision: { actor: [recipient()] } } })]),
    effect: 'deny',
    codes: ['consent-missing-child'],
  },
  {
    name: 'lets a dated permit supersede an undated objection',
    facts: seventeen([
      childConsent({ id: 'c-deny', type: 'deny', raw: { dateTime: undefined } }),
      childConsent({ id: 'c-permit' }),
    ]),
    effect: 'permit',
    codes: ['permitted-by-consent'],
    consentIds: ['c-permit'],
  },
];

const legalBasisCases: Case[] = [
  {
    name: 'permits sharing on a legal obligation without any consent',
    facts: { agreements: onLegalBasis('legal-obligation') },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
    consentIds: [],
    agreement: { id: 'agr-overbetuwe', version: 1 },
    legalBasis: 'legal-obligation',
  },
  {
    name: 'blocks sharing on a legal obligation when a guardian of an 8-year-old objects',
    facts: { agreements: onLegalBasis('legal-obligation'), consents: [motherConsent({ type: 'deny' })] },
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-mother'],
    agreement: { id: 'agr-overbetuwe', version: 1 },
    legalBasis: 'legal-obligation',
  },
  {
    name: 'does not let an objection block a legal obligation when the agreement says objections do not block',
    facts: { agreements: onLegalBasis('legal-obligation', false), consents: [motherConsent({ type: 'deny' })] },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
    legalBasis: 'legal-obligation',
  },
  {
    name: 'ignores a guardian objection to a public task for a 17-year-old',
    facts: { agreements: onLegalBasis('public-task'), patient: aged(17), consents: [motherConsent({ type: 'deny' })] },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
    legalBasis: 'public-task',
  },
  {
    name: 'blocks a public task when the 17-year-old objects',
    facts: { agreements: onLegalBasis('public-task'), patient: aged(17), consents: [childConsent({ type: 'deny' })] },
    effect: 'deny',
    codes: ['consent-denied'],
    consentIds: ['c-child'],
  },
  {
    name: 'blocks a public task when a 14-year-old objects',
    facts: { agreements: onLegalBasis('public-task'), patient: aged(14), consents: [childConsent({ type: 'deny' })] },
    effect: 'deny',
    codes: ['consent-denied'],
  },
  {
    name: "ignores an 8-year-old's own objection to a legal obligation",
    facts: { agreements: onLegalBasis('legal-obligation'), consents: [childConsent({ type: 'deny' })] },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
  },
  {
    name: 'honours an objection by anyone who may speak when the birth date is unknown',
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      patient: { id: CHILD_ID },
      consents: [fatherConsent({ type: 'deny' })],
    },
    effect: 'deny',
    codes: ['consent-denied'],
  },
  {
    name: 'permits a legal obligation without objections when the birth date is unknown',
    facts: { agreements: onLegalBasis('legal-obligation'), patient: { id: CHILD_ID } },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
  },
  {
    name: 'ignores an objection to a legal obligation by a guardian without authority',
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      guardians: motherOnlyWithAuthority,
      consents: [fatherConsent({ type: 'deny' })],
    },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
  },
  {
    name: 'lets a later permit lift an earlier objection to a legal obligation',
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      consents: [
        motherConsent({ id: 'c-objection', type: 'deny', dateTime: '2025-02-01T10:00:00+01:00' }),
        motherConsent({ id: 'c-lifted', dateTime: '2025-04-01T10:00:00+02:00' }),
      ],
    },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
    consentIds: [],
  },
  {
    name: 'ignores an expired objection to a legal obligation',
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      consents: [motherConsent({ type: 'deny', period: UNTIL_YESTERDAY })],
    },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
  },
  {
    name: 'ignores an objection to a legal obligation that concerns another municipality',
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      consents: [motherConsent({ type: 'deny', recipients: [OTHER_MUNICIPALITY] })],
    },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
  },
  {
    name: 'ignores an objection to encounters when no encounter is shared on a legal obligation',
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      consents: [motherConsent({ type: 'deny', classes: ['Encounter'] })],
    },
    effect: 'permit',
    codes: ['permitted-by-legal-basis'],
  },
  {
    name: 'blocks sharing encounters on a legal obligation when a guardian objects to encounters',
    request: { dataClasses: ['Patient', 'Encounter'] },
    facts: {
      agreements: onLegalBasis('legal-obligation'),
      consents: [motherConsent({ type: 'deny', classes: ['Encounter'] })],
    },
    effect: 'deny',
    codes: ['consent-denied'],
  },
];

const cases: Case[] = [...agreementCases, ...whoConsentsCases, ...birthdayCases, ...consentCases, ...legalBasisCases];

describe('decide', () => {
  it.each(cases)('$name', (c) => {
    const request = buildRequest(c.request);
    const facts = buildFacts(c.facts);
    const decision = decide(request, facts);

    expect(decision.effect).toBe(c.effect);
    expect(decision.reasons.map((r) => r.code)).toEqual(c.codes);
    if (c.consentIds) {
      expect([...decision.consentIds].sort()).toEqual([...c.consentIds].sort());
    }
    if (c.agreement !== undefined) {
      expect(decision.agreement).toEqual(c.agreement ?? undefined);
    }
    if (c.legalBasis) {
      expect(decision.legalBasis).toBe(c.legalBasis);
    }
    // A permit carries the allow-list of exactly the requested classes; a deny lets nothing through.
    const expectedClasses = c.effect === 'permit' ? [...new Set(request.dataClasses)].sort() : [];
    expect(Object.keys(decision.obligations.allowedFields).sort()).toEqual(expectedClasses);
    // Reasons are for logs and auditors: never the birth date.
    for (const reason of decision.reasons) {
      expect(reason.detail.length).toBeGreaterThan(0);
      if (facts.patient.birthDate) {
        expect(reason.detail).not.toContain(facts.patient.birthDate);
      }
    }
  });

  it('has at least 60 decision cases with unique names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it("gives the agreement's allow-list for each requested class on permit, frozen so no caller can change it", () => {
    const agreement = buildAgreement();
    const decideOnce = () =>
      decide(
        buildRequest({ dataClasses: ['Patient', 'Encounter', 'Patient'] }),
        buildFacts({ agreements: [agreement], consents: guardiansConsent() }),
      );
    const decision = decideOnce();
    expect(decision.obligations.allowedFields).toEqual({
      Patient: ['identifier', 'birthDate'],
      Encounter: ['status', 'class', 'period'],
    });
    // Shared by every decision under the agreement: a caller copies before changing.
    const patientFields = decision.obligations.allowedFields.Patient as string[];
    expect(() => patientFields.push('name')).toThrow(TypeError);
    expect(() => {
      (decision.obligations.allowedFields as Record<string, string[]>).Task = ['status'];
    }).toThrow(TypeError);
    expect(agreement.dataClasses.Patient?.fields).toEqual(['identifier', 'birthDate']);
    expect(decideOnce().obligations.allowedFields).toEqual({
      Patient: ['identifier', 'birthDate'],
      Encounter: ['status', 'class', 'period'],
    });
  });

  it('names the people and consents in reasons by id only', () => {
    const decision = decide(
      buildRequest(),
      buildFacts({ patient: aged(14), consents: [motherConsent({ type: 'deny' })] }),
    );
    // `people` names whom each reason is about, by reference (and the HIS's own id where the facts give one).
    expect(decision.reasons).toEqual([
      {
        code: 'consent-missing-child',
        detail: `No consent of ${CHILD} covers this disclosure`,
        people: [{ role: 'child', reference: CHILD }],
      },
      {
        code: 'consent-denied',
        detail: `Consent/c-mother of ${MOTHER} denies this disclosure`,
        people: [{ role: 'guardian', reference: MOTHER, hasAuthority: true }],
      },
      {
        code: 'consent-missing-guardian',
        detail: `No consent of ${FATHER} covers this disclosure`,
        people: [{ role: 'guardian', reference: FATHER, hasAuthority: true }],
      },
    ]);
  });

  it('neither mutates its inputs nor depends on call order', () => {
    const request = deepFreeze(buildRequest({ dataClasses: ['Patient', 'Encounter'] }));
    const facts = deepFreeze(
      buildFacts({
        patient: aged(14),
        consents: [
          childConsent({ exceptions: [rule({ type: 'deny', classes: ['Encounter'] })] }),
          ...guardiansConsent(),
        ],
      }),
    );
    const first = decide(request, facts);
    decide(buildRequest({ at: new Date('2031-01-01T00:00:00Z') }), buildFacts());
    expect(decide(request, facts)).toEqual(first);
    expect(first.effect).toBe('deny');
  });

  it('ignores a stored consent that lacks elements FHIR requires instead of failing', () => {
    const broken = { ...childConsent(), category: undefined, scope: undefined } as unknown as Consent;
    const actorless = childConsent({ id: 'c-actor', actor: [{ role: undefined } as unknown as ConsentProvisionActor] });
    const decision = decide(buildRequest(), buildFacts({ patient: aged(17), consents: [broken, actorless] }));
    expect(decision.reasons.map((r) => r.code)).toEqual(['actor-not-covered']);
  });

  it('rejects an invalid moment of disclosure', () => {
    expect(() => decide(buildRequest({ at: new Date('not a date') }), buildFacts())).toThrow(
      'The moment of disclosure is not a valid date',
    );
  });

  it('takes the day in Amsterdam whatever the time zone of the process', () => {
    const original = process.env.TZ;
    // In Kiritimati (UTC+14) it is already the afternoon of the 16th birthday; in Amsterdam it is not yet.
    process.env.TZ = 'Pacific/Kiritimati';
    try {
      const decision = decide(
        buildRequest({ at: JUNE_14_235959_AMSTERDAM }),
        buildFacts({ patient: born('2009-06-15'), consents: [childConsent()] }),
      );
      expect(decision.effect).toBe('deny');
    } finally {
      if (original === undefined) {
        delete process.env.TZ;
      } else {
        process.env.TZ = original;
      }
    }
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    for (const child of Object.values(value)) {
      deepFreeze(child);
    }
    Object.freeze(value);
  }
  return value;
}

// report-xhis X2: a minimal cancellation (no guardians) of a delivered referral was denied for want of a guardian.
describe('the cancellation of a referral', () => {
  const cancels = (at: 'disclosed' | 'not-disclosed' | 'unknown') => ({ referralId: 'r-3', at }) as const;
  const noGuardians = { guardians: [] };

  it('permits the cancellation of a referral sent there without a consent, identifiers and status only', () => {
    const objection = motherConsent({ type: 'deny' });
    const decision = decide(
      buildRequest({ dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest'], cancels: cancels('disclosed') }),
      buildFacts({ ...noGuardians, consents: [objection] }),
    );
    expect(decision.effect).toBe('permit');
    expect(decision.reasons.map((r) => r.code)).toEqual(['permitted-as-cancellation']);
    expect(decision.consentIds).toEqual([]);
    // Within the agreement's allow-list (its ServiceRequest list has no identifier nor subject): no guardians at all.
    expect(decision.obligations.allowedFields).toEqual({
      ServiceRequest: ['status', 'intent'],
      Patient: ['identifier'],
    });
  });

  it('still needs an agreement that covers the referral', () => {
    const decision = decide(
      buildRequest({ cancels: cancels('disclosed') }),
      buildFacts({ agreements: [buildAgreement({ purposes: ['contact-registration'] })] }),
    );
    expect(decision.effect).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toEqual(['purpose-not-covered']);
  });

  it('denies, in words, the cancellation of a referral never sent to this municipality', () => {
    const decision = decide(buildRequest({ cancels: cancels('not-disclosed') }), buildFacts(noGuardians));
    expect(decision.effect).toBe('deny');
    expect(decision.reasons).toEqual([
      { code: 'referral-not-disclosed', detail: 'referral r-3 was never sent to GM0226: there is nothing to cancel' },
    ]);
  });

  it('judges the cancellation of a referral it never received as any disclosure, saying why first', () => {
    const denied = decide(buildRequest({ cancels: cancels('unknown') }), buildFacts(noGuardians));
    expect(denied.reasons.map((r) => r.code)).toEqual(['referral-unknown', 'no-guardian-with-authority']);
    const permitted = decide(
      buildRequest({ cancels: cancels('unknown') }),
      buildFacts({ consents: guardiansConsent() }),
    );
    expect(permitted.reasons.map((r) => r.code)).toEqual(['permitted-by-consent']);
  });
});

// report-xhis X3: the reason named jeugdbrug's Patient id, which the HIS never saw; the practice knows the child as c-1.
it('names the child by the HIS own id where a reason is about the child alone', () => {
  const noGuardian = decide(buildRequest(), buildFacts({ guardians: [], patient: { ...aged(8), hisId: 'c-1' } }));
  expect(noGuardian.reasons[0]?.detail).toBe('No guardian with parental authority is known for the child c-1');
  const noBirthDate = decide(buildRequest(), buildFacts({ patient: { id: CHILD_ID, hisId: 'c-1' } }));
  expect(noBirthDate.reasons[0]?.detail).toBe('the child c-1 has no usable birth date, so who must consent is unknown');
});

// report-xaudit 4: a status update sent back to the practice was disclosed with no decision and no agreement.
describe("a municipality's status on a referral, back to the practice", () => {
  it('is permitted under the agreement the referral went there under, with its legal basis and no consent', () => {
    const decision = decideReferralStatus({
      referralId: 'r-7',
      municipalityCode: MUNICIPALITY,
      agreement: { id: 'overbetuwe-2026', version: 2 },
      legalBasis: 'consent',
    });
    expect(decision).toEqual({
      effect: 'permit',
      reasons: [
        {
          code: 'permitted-as-referral-status',
          detail:
            `Agreement overbetuwe-2026 v2 (consent): the status from ${MUNICIPALITY} on referral r-7, which it ` +
            'received under this agreement, back to the practice; no consent decides it',
        },
      ],
      agreement: { id: 'overbetuwe-2026', version: 2 },
      legalBasis: 'consent',
      consentIds: [],
      obligations: { allowedFields: {} },
    });
  });

  it('names an agreement no longer configured as recorded, without a legal basis it cannot know', () => {
    const decision = decideReferralStatus({
      referralId: 'r-7',
      municipalityCode: MUNICIPALITY,
      agreement: { id: 'retired', version: 3 },
    });
    expect(decision.effect).toBe('permit');
    expect(decision.agreement).toEqual({ id: 'retired', version: 3 });
    expect(decision.legalBasis).toBeUndefined();
    expect(decision.reasons[0]?.detail).toMatch(/^Agreement retired v3: /);
  });

  it('is denied when no agreement is on record for the referral there', () => {
    const decision = decideReferralStatus({ referralId: 'r-7', municipalityCode: MUNICIPALITY, agreement: undefined });
    expect(decision.effect).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toEqual(['no-agreement']);
    expect(decision.agreement).toBeUndefined();
  });
});
