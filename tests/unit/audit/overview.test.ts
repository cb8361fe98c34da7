import { buildRegistry } from '../../../src/event/registry';
import {
  consentDecision,
  dataAccess,
  disclosure,
  eventReceived,
  feedbackDisclosure,
  feedbackReceived,
  operatorAction,
  SYSTEM_WORKER,
  trajectoryDecision,
  trajectoryDisclosure,
  trajectoryEventReceived,
  withdrawalNoticeDisclosure,
  type AuditActor,
} from '../../../src/audit/audit-events';
import { buildOverview, type OverviewRow } from '../../../src/reports/child-overview/overview';
import { buildAgreement } from '../../helpers/builders';

const BSN = '111222333';
const practiceUser: AuditActor = {
  userId: 'api-key:practice',
  onBehalfOf: { kind: 'practice', code: '01234567' },
  accessPoint: '127.0.0.1',
};
const registry = buildRegistry({ agreements: [buildAgreement()], destinations: [] });

function rows(): OverviewRow[] {
  const events = [
    eventReceived({ actor: practiceUser, inboxId: 'in-1', eventType: 'referral.created', patientBsn: BSN }),
    consentDecision({
      actor: SYSTEM_WORKER,
      permit: true,
      reasons: 'permitted-by-consent',
      patientBsn: BSN,
      inboxId: 'in-1',
      consentIds: ['c-1', 'c-2'],
      agreement: { id: 'test-agreement', version: 3 },
      municipality: 'GM0226',
      purpose: 'referral',
      stage: 'map',
    }),
    disclosure({
      actor: SYSTEM_WORKER,
      outcome: '0',
      patientBsn: BSN,
      inboxId: 'in-1',
      municipality: 'GM0226',
      destination: 'gm0226',
      purpose: 'referral',
      resources: ['Patient/p-1', 'ServiceRequest/s-1', 'ServiceRequest/s-2'],
      agreement: { id: 'test-agreement', version: 3 },
      consentIds: ['c-1'],
    }),
    consentDecision({
      actor: SYSTEM_WORKER,
      permit: false,
      reasons: 'consent-withdrawn, consent-missing-guardian',
      patientBsn: BSN,
      inboxId: 'in-2',
      consentIds: ['c-3'],
      municipality: 'GM0226',
      purpose: 'contact-registration',
      stage: 'deliver',
    }),
    dataAccess({
      actor: practiceUser,
      interaction: 'search',
      outcome: '0',
      query: '/audit/v1/overview',
      patientBsn: BSN,
    }),
  ];
  return events.map((resource, i) => ({ tenant: '01234567', seq: i + 1, resource }));
}

describe('buildOverview', () => {
  const overview = buildOverview(BSN, rows(), { registry, now: new Date('2026-02-01T00:00:00Z') });

  it('lists disclosures and decisions in order, with the organisation, data, agreement and consents', () => {
    expect(overview.entries.map((e) => `${e.kind}:${e.action}`)).toEqual([
      'decision:permit',
      'disclosure:disclose',
      'decision:deny',
    ]);
    expect(overview.entries[1]).toEqual(
      expect.objectContaining({
        kind: 'disclosure',
        practice: { kind: 'practice', code: '01234567' },
        recipient: { kind: 'municipality', code: 'GM0226', name: 'Overbetuwe' },
        destination: 'gm0226',
        purpose: 'referral',
        dataTypes: ['Patient', 'ServiceRequest'],
        resources: ['Patient/p-1', 'ServiceRequest/s-1', 'ServiceRequest/s-2'],
        agreement: { id: 'test-agreement', version: 3 },
        consents: ['c-1'],
        event: 'inbox/in-1',
        seq: 3,
      }),
    );
  });

  it('shows a withdrawal notice as a Consent sent under the agreement, naming what it refers to and why', () => {
    const notice = {
      actor: SYSTEM_WORKER,
      outcome: '0' as const,
      patientBsn: BSN,
      inboxId: 'in-9',
      municipality: 'GM0226',
      destination: 'gm0226',
      purpose: 'referral',
      notice: 'Consent/n-1',
      referredTo: ['Patient/p-1', 'ServiceRequest/s-1'],
      reason: { consentIds: ['c-1'], eventType: 'consent.withdrawn' },
      agreements: [{ id: 'test-agreement', version: 3 }],
    };
    const [entry] = buildOverview(BSN, [
      { tenant: '01234567', seq: 9, resource: withdrawalNoticeDisclosure(notice) },
    ]).entries;
    const expected = {
      kind: 'disclosure',
      sent: 'withdrawal-notice',
      dataTypes: ['Consent'],
      resources: ['Consent/n-1'],
      refersTo: ['Patient/p-1', 'ServiceRequest/s-1'],
      agreement: { id: 'test-agreement', version: 3 },
      consents: [],
      reasonConsents: ['c-1'],
      event: 'inbox/in-9',
    };
    expect(entry).toEqual(expect.objectContaining(expected));
    // A notice audited before it was described as one (as a disclosure of its resources, without an agreement).
    const legacy = disclosure({
      ...notice,
      resources: ['Consent/n-1', 'Patient/p-1', 'ServiceRequest/s-1'],
      consentIds: ['c-1'],
    });
    const [old] = buildOverview(BSN, [{ tenant: '01234567', seq: 9, resource: legacy }]).entries;
    expect(old).toEqual(expect.objectContaining({ ...expected, agreement: undefined }));
    // An ordinary disclosure is data sent, with its consents as its legal basis.
    expect(overview.entries[1]).toEqual(
      expect.objectContaining({ sent: 'data', refersTo: [], reasonConsents: [], consents: ['c-1'] }),
    );
  });

  it('gives a decision its stage and reason codes', () => {
    expect(overview.entries[0]).toEqual(
      expect.objectContaining({ stage: 'map', reasons: ['permitted-by-consent'], consents: ['c-1', 'c-2'] }),
    );
    expect(overview.entries[2]).toEqual(
      expect.objectContaining({
        action: 'deny',
        stage: 'deliver',
        reasons: ['consent-withdrawn', 'consent-missing-guardian'],
        purpose: 'contact-registration',
        agreement: undefined,
      }),
    );
  });

  it('lists who accessed the child’s data, for whom and from where', () => {
    expect(overview.accesses).toEqual([
      expect.objectContaining({
        action: 'create',
        user: 'api-key:practice',
        accessPoint: '127.0.0.1',
        what: ['inbox/in-1'],
      }),
      expect.objectContaining({
        action: 'search-type',
        onBehalfOf: { kind: 'practice', code: '01234567' },
        outcome: '0',
      }),
    ]);
    expect(overview.patient).toEqual({ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: BSN });
  });
});

describe('dataAccess', () => {
  it('carries the query base64-encoded in a BALP Query entity and marks a refusal as a Security Alert, outcome 4', () => {
    const e = dataAccess({
      actor: practiceUser,
      interaction: 'read',
      outcome: '4',
      outcomeDesc: 'not within the caller’s scope',
      query: '/audit/v1/verify?tenant=07654321',
      target: 'audit_chain/07654321',
    });
    expect(e).toEqual(
      expect.objectContaining({
        type: expect.objectContaining({ code: '110113' }),
        action: 'R',
        outcome: '4',
        subtype: [expect.objectContaining({ code: 'read' })],
      }),
    );
    const query = e.entity?.find((x) => x.role?.code === '24')?.query;
    expect(Buffer.from(query!, 'base64').toString('utf8')).toBe('/audit/v1/verify?tenant=07654321');
  });
});

describe('buildOverview, the reverse direction (trajectory events to the practice)', () => {
  const municipalityUser: AuditActor = {
    userId: 'api-key:overbetuwe',
    onBehalfOf: { kind: 'municipality', code: 'GM0226' },
    accessPoint: '10.0.0.9',
  };
  const trajectory = [
    trajectoryEventReceived({
      actor: municipalityUser,
      municipality: 'GM0226',
      practiceAgb: '01234567',
      patientBsn: BSN,
      trajectoryEventId: 't-1',
      eventType: 'intake',
      purpose: 'trajectory-feedback',
    }),
    trajectoryDecision({
      actor: SYSTEM_WORKER,
      permit: true,
      reasons: 'permitted-by-consent',
      patientBsn: BSN,
      trajectoryEventId: 't-1',
      consentIds: ['c-9'],
      agreement: { id: 'test-agreement', version: 2 },
      practiceAgb: '01234567',
      purpose: 'trajectory-feedback',
      stage: 'receive',
    }),
    trajectoryDisclosure({
      actor: SYSTEM_WORKER,
      outcome: '0',
      practiceAgb: '01234567',
      municipality: 'GM0226',
      patientBsn: BSN,
      trajectoryEventId: 't-1',
      purpose: 'trajectory-feedback',
      resources: ['EpisodeOfCare/e-1'],
      endpoint: 'his-01234567',
      agreement: { id: 'test-agreement', version: 2 },
      consentIds: ['c-9'],
    }),
  ].map((resource, i) => ({ tenant: '01234567', seq: i + 1, resource }));
  const overview = buildOverview(BSN, trajectory, { registry });

  it('gives a trajectory decision its stage and reason codes, as the HIS direction does', () => {
    expect(overview.entries.find((e) => e.kind === 'decision')).toEqual(
      expect.objectContaining({
        stage: 'receive',
        reasons: ['permitted-by-consent'],
        consents: ['c-9'],
        agreement: { id: 'test-agreement', version: 2 },
        event: 'trajectory_event/t-1',
      }),
    );
  });

  it('names the agreement and consent a disclosure to the practice was made under, and only the FHIR data sent', () => {
    expect(overview.entries.find((e) => e.kind === 'disclosure')).toEqual(
      expect.objectContaining({
        recipient: { kind: 'practice', code: '01234567' },
        destination: 'his-01234567',
        dataTypes: ['EpisodeOfCare'],
        resources: ['EpisodeOfCare/e-1'],
        agreement: { id: 'test-agreement', version: 2 },
        consents: ['c-9'],
        event: 'trajectory_event/t-1',
      }),
    );
  });
});

describe('buildOverview, every kind of AuditEvent about the child', () => {
  const municipalityUser: AuditActor = {
    userId: 'api-key:overbetuwe',
    onBehalfOf: { kind: 'municipality', code: 'GM0226' },
    accessPoint: '10.0.0.9',
  };
  const common = { patientBsn: BSN, practiceAgb: '01234567', municipality: 'GM0226' };
  const events = [
    ...rows().map((r) => r.resource),
    disclosure({
      actor: SYSTEM_WORKER,
      outcome: '8',
      outcomeDesc: 'the receiver answered 500',
      patientBsn: BSN,
      inboxId: 'in-3',
      municipality: 'GM0226',
      destination: 'gm0226',
      purpose: 'referral',
      resources: [],
    }),
    feedbackReceived({
      ...common,
      actor: municipalityUser,
      inboxId: 'in-1',
      feedbackId: 'f-1',
      serviceRequestId: 's-1',
      status: 'accepted',
    }),
    feedbackDisclosure({
      ...common,
      actor: SYSTEM_WORKER,
      outcome: '0',
      inboxId: 'in-1',
      feedbackId: 'f-1',
      serviceRequestId: 's-1',
      endpoint: 'his-01234567',
    }),
    trajectoryEventReceived({
      ...common,
      actor: municipalityUser,
      trajectoryEventId: 't-1',
      eventType: 'intake',
      purpose: 'trajectory-feedback',
    }),
    operatorAction({ actor: practiceUser, action: 'replay', target: 'inbox/in-3', patientBsn: BSN }),
    dataAccess({
      actor: practiceUser,
      interaction: 'read',
      outcome: '4',
      outcomeDesc: 'not within the caller’s scope',
      query: '/his/v1/events/in-1',
      patientBsn: BSN,
      target: 'inbox/in-1',
    }),
  ];
  const all = events.map((resource, i) => ({
    tenant: i === events.length - 1 ? 'system' : '01234567',
    seq: i + 1,
    resource,
  }));
  const overview = buildOverview(BSN, all, { registry });
  const listed = [...overview.entries, ...overview.accesses];

  it('lists each of them once, so it shows what a search by the child finds', () => {
    expect(listed.map((e) => e.auditEvent).sort()).toEqual(events.map((e) => `AuditEvent/${e.id}`).sort());
  });

  it('shows what the municipality sent about the child, and who sent it', () => {
    expect(overview.entries.filter((e) => e.kind === 'receipt')).toEqual([
      expect.objectContaining({
        action: 'receive',
        sender: { kind: 'municipality', code: 'GM0226', name: 'Overbetuwe' },
        recipient: { kind: 'practice', code: '01234567' },
        what: ['Task/f-1', 'ServiceRequest/s-1', 'inbox/in-1'],
        description: 'referral status accepted',
      }),
      expect.objectContaining({
        action: 'receive',
        sender: { kind: 'municipality', code: 'GM0226', name: 'Overbetuwe' },
        what: ['trajectory_event/t-1'],
        description: 'intake',
      }),
    ]);
  });

  it('lists a refused read among the accesses, and labels no system chain entry as a practice', () => {
    const refused = overview.accesses.find((a) => a.outcome === '4');
    expect(refused).toEqual(expect.objectContaining({ action: 'read', what: ['inbox/in-1'], chain: 'system' }));
    expect(refused).not.toHaveProperty('practice');
  });
});

describe('agents', () => {
  it('names an organisation once, when the user acted for the one that sent the data', () => {
    const e = feedbackReceived({
      actor: { userId: 'api-key:overbetuwe', onBehalfOf: { kind: 'municipality', code: 'GM0226' }, accessPoint: '::1' },
      municipality: 'GM0226',
      practiceAgb: '01234567',
      patientBsn: BSN,
      inboxId: 'in-1',
      feedbackId: 'f-1',
      serviceRequestId: 's-1',
      status: 'accepted',
    });
    const codes = (e.agent ?? []).map((a) => a.who?.identifier?.value).filter((v) => v !== undefined);
    expect(codes.filter((c) => c === 'GM0226')).toHaveLength(1);
    expect(codes).toContain('01234567');
  });
});
