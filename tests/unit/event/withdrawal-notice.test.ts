import { validateResource } from '@medplum/core';
import type { Consent } from '@medplum/fhirtypes';
import { toTransactionBundle } from '../../../mappings/municipality/fhir-rest/to-transaction';
import { LOGICAL_BASE, RESOURCE_ID_SYSTEM } from '../../../mappings/municipality/shared/resource-identifier';
import { toNotificationBundle } from '../../../mappings/municipality/webhook/to-notification';
import { assertValidResource, initFhirValidation } from '../../../src/kernel/fhir/validation';
import type { CanonicalEvent, HisEventType } from '../../../src/contracts/his-dialect';
import type { ChildDisclosure } from '../../../src/event/event-store';
import { buildWithdrawalNotice, withdrawnByConsent } from '../../../src/event/withdrawal-notice';
import type { Decision } from '../../../src/policy/types';
import { caseNames, DIALECTS_UNDER_TEST, readInput, runBody } from '../mapping/run-dialect';

const PATIENT = 'Patient/7f1b9c1e-0000-5000-8000-000000000001';
const REQUEST = 'ServiceRequest/7f1b9c1e-0000-5000-8000-000000000002';

function consentEvent(eventType: HisEventType): CanonicalEvent {
  const consent: Consent = {
    resourceType: 'Consent',
    id: '7f1b9c1e-0000-5000-8000-0000000000c1',
    status: 'active',
    scope: {},
    category: [],
    patient: { reference: PATIENT },
    dateTime: '2026-12-01T10:00:00+01:00',
  };
  return {
    eventType,
    sourceEventId: 'e1',
    occurredAt: '2026-12-01T10:00:00+01:00',
    practice: { agb: '01234567' },
    municipalityCode: 'GM0226',
    patient: { bsn: '111222333', birthDate: '2012-03-04' },
    guardians: [],
    resources: [consent],
  };
}

function disclosed(overrides: Partial<ChildDisclosure> = {}): ChildDisclosure {
  return {
    delivery_id: 'd1',
    inbox_id: 'i1',
    destination: 'gm0226',
    municipality: 'GM0226',
    purpose: 'referral',
    data_classes: ['Patient', 'ServiceRequest'],
    resources: [PATIENT, REQUEST],
    referral_system: 'urn:agb:01234567:referral',
    referral_value: 'ref-1',
    disclosed_at: new Date('2026-11-20T10:00:00Z'),
    ...overrides,
  };
}

describe('the withdrawal notice a municipality receives', () => {
  it.each([
    ['consent.withdrawn', 'inactive', 'permit', 'OPTIN'],
    ['consent.entered-in-error', 'entered-in-error', 'permit', 'OPTIN'],
    ['consent.recorded', 'active', 'deny', 'OPTOUT'],
  ] as const)('after %s is a Consent with status %s and a %s provision', (eventType, status, type, rule) => {
    const notice = buildWithdrawalNotice(consentEvent(eventType), [disclosed()], 'key-1');
    expect(notice.status).toBe(status);
    expect(notice.provision?.type).toBe(type);
    expect(notice.policyRule?.coding?.[0]?.code).toBe(rule);
  });

  it('names each resource received once, the referral with its business identifier, and no BSN', () => {
    const notice = buildWithdrawalNotice(
      consentEvent('consent.withdrawn'),
      [disclosed(), disclosed({ delivery_id: 'd2', purpose: 'contact-registration', resources: [PATIENT] })],
      'key-1',
    );
    expect(notice.patient?.reference).toBe(PATIENT);
    expect(notice.provision?.data).toEqual([
      { meaning: 'instance', reference: { reference: PATIENT } },
      {
        meaning: 'instance',
        reference: { reference: REQUEST, identifier: { system: 'urn:agb:01234567:referral', value: 'ref-1' } },
      },
    ]);
    expect(notice.provision?.purpose?.map((p) => p.code)).toEqual(['referral', 'contact-registration']);
    expect(notice.provision?.actor?.[0]?.reference?.identifier?.value).toBe('GM0226');
    expect(JSON.stringify(notice)).not.toContain('111222333');
  });

  // The notice named the resources it withdraws but not the consent whose change caused it, nor which version of it:
  // the municipality (and an auditor holding the notice) could not tell which consent it was, nor match the notice to
  // its audit row, which cites `Consent/<id>/_history/<version>`.
  it('cites the consent it withdraws by the version the consent event wrote, as its audit row cites it', () => {
    const event = consentEvent('consent.withdrawn');
    const notice = buildWithdrawalNotice(event, [disclosed()], 'key-1', 2);
    expect(notice.sourceReference).toEqual({ reference: `Consent/${event.resources[0]!.id!}/_history/2` });
    // A consent event recorded before consent versions were kept (migration 087): the consent, without a version.
    expect(buildWithdrawalNotice(event, [disclosed()], 'key-1').sourceReference).toEqual({
      reference: `Consent/${event.resources[0]!.id!}`,
    });
  });

  // Every consent event of the golden fixtures, of every dialect: the notice is valid FHIR R4 and cites its consent.
  const consentCases = DIALECTS_UNDER_TEST.flatMap((dialect) =>
    caseNames(dialect)
      .flatMap((c) => runBody(dialect, readInput(dialect, c)).map((r) => ({ name: `${dialect.name} ${c}`, r })))
      .flatMap(({ name, r }) => ('event' in r && r.event.eventType.startsWith('consent.') ? [[name, r.event]] : [])),
  ) as [string, CanonicalEvent][];

  it('has golden consent events of each kind to build notices from', () => {
    const kinds = new Set(consentCases.map(([, e]) => e.eventType));
    expect(kinds).toEqual(new Set(['consent.recorded', 'consent.withdrawn', 'consent.entered-in-error']));
  });

  it.each(consentCases)('builds a valid notice citing its consent version from %s', (_, event) => {
    initFhirValidation();
    const consentId = event.resources.find((r) => r.resourceType === 'Consent')?.id;
    const notice = buildWithdrawalNotice(event, [disclosed({ municipality: event.municipalityCode })], 'key-1', 3);
    expect(consentId).toBeDefined();
    expect(notice.sourceReference?.reference).toBe(`Consent/${consentId}/_history/3`);
    expect(() => assertValidResource(notice)).not.toThrow();
    expect(validateResource(notice).filter((i) => i.severity === 'error')).toEqual([]);
    // As each format sends it: a FHIR REST receiver assigned its own ids and holds none of our consents, so it gets
    // a logical reference by identifier (the version in display), never a reference it would try to resolve.
    const sent = toTransactionBundle([notice], 'key-1', event.eventType).entry?.[0]?.resource as Consent;
    expect(sent.sourceReference).toEqual({
      type: 'Consent',
      identifier: { system: RESOURCE_ID_SYSTEM, value: consentId },
      display: `Consent/${consentId}/_history/3`,
    });
    expect(validateResource(sent).filter((i) => i.severity === 'error')).toEqual([]);
    const notified = toNotificationBundle([notice], {
      idempotencyKey: 'key-1',
      eventType: event.eventType,
      subscriptionId: 'gm0226',
      occurredAt: event.occurredAt,
      timestamp: event.occurredAt,
    });
    const inNotification = notified.entry?.[1];
    expect((inNotification?.resource as Consent).sourceReference?.reference).toBe(`Consent/${consentId}/_history/3`);
    expect(inNotification?.fullUrl).toBe(`${LOGICAL_BASE}/Consent/${notice.id}`);
  });

  it('has an id of its own per notice, the same for the same notice', () => {
    const event = consentEvent('consent.withdrawn');
    const a = buildWithdrawalNotice(event, [disclosed()], 'key-1');
    expect(buildWithdrawalNotice(event, [disclosed()], 'key-1').id).toBe(a.id);
    expect(buildWithdrawalNotice(event, [disclosed()], 'key-2').id).not.toBe(a.id);
  });
});

describe('which denials of data already disclosed call for a notice', () => {
  const deny = (...codes: string[]): Decision =>
    ({ effect: 'deny', reasons: codes.map((code) => ({ code })) }) as never;
  it.each([
    [['consent-withdrawn'], true],
    [['consent-denied'], true],
    [['consent-missing-child'], true],
    [['consent-expired'], false],
    [['consent-not-yet-valid'], false],
    [['agreement-expired'], false],
  ])('%j: %s', (codes, expected) => {
    expect(withdrawnByConsent(deny(...codes))).toBe(expected);
  });
});
