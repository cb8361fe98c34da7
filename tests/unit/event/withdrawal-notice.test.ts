import type { Consent } from '@medplum/fhirtypes';
import type { CanonicalEvent, HisEventType } from '../../../src/contracts/his-dialect';
import type { ChildDisclosure } from '../../../src/event/event-store';
import { buildWithdrawalNotice, withdrawnByConsent } from '../../../src/event/withdrawal-notice';
import type { Decision } from '../../../src/policy/types';

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
