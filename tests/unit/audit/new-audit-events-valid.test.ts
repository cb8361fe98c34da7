import { validateResource } from '@medplum/core';
import {
  apiKeyChanged,
  authenticationFailed,
  consoleSession,
  feedbackDecision,
  feedbackDisclosure,
  SYSTEM_WORKER,
  withdrawalNoticeDisclosure,
  type AuditActor,
} from '../../../src/audit/audit-events';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';

// The AuditEvents added for the xauditor findings are valid FHIR R4, as every other one is (an auditor's tooling
// validates what the search returns).
describe('the AuditEvents of withdrawal notices, sessions and key changes are valid R4', () => {
  beforeAll(() => initFhirValidation());
  const person: AuditActor = { userId: 'api-key:ops-1', role: 'operator', person: true, accessPoint: '10.0.0.7' };
  // report-xaudit 4: a status update going to the practice, decided and disclosed under its referral's agreement.
  const toPractice = {
    actor: SYSTEM_WORKER,
    practiceAgb: '01234567',
    municipality: 'GM0226',
    patientBsn: '111222333',
    inboxId: 'in-1',
    feedbackId: 'fb-1',
    serviceRequestId: 's-1',
    agreement: { id: 'a-1', version: 2, digest: `sha256:${'0'.repeat(64)}` },
  };

  it.each([
    [
      'a withdrawal notice',
      withdrawalNoticeDisclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: '111222333',
        inboxId: 'in-1',
        municipality: 'GM0226',
        destination: 'gm0226',
        purpose: 'referral',
        notice: 'Consent/n-1',
        referredTo: ['ServiceRequest/s-1'],
        reason: { consentIds: ['c-1'], eventType: 'consent.withdrawn' },
        agreements: [{ id: 'a-1', version: 2 }],
      }),
    ],
    ['a status update decided', feedbackDecision({ ...toPractice, permit: true, reasons: 'permitted' })],
    ['a status update disclosed', feedbackDisclosure({ ...toPractice, outcome: '0', endpoint: 'practice-01234567' })],
    ['a sign-in', consoleSession({ actor: person, event: 'login', route: 'POST /console/sign-in' })],
    ['a sign-out', consoleSession({ actor: person, event: 'logout', route: 'POST /console/sign-out' })],
    [
      'a refused key aimed at a key on file',
      authenticationFailed({ actor: { ...person, role: undefined }, reason: 'Invalid API key', route: 'GET /x' }),
    ],
    [
      'an API key created',
      apiKeyChanged({
        actor: { userId: 'os-user:ops', person: true, accessPoint: 'host-1' },
        change: 'create',
        keyId: 'fg-1',
        access: 'role auditor; practices 01234567',
      }),
    ],
  ])('%s', (_name, event) => {
    expect(validateResource(event).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
