import { validateResource } from '@medplum/core';
import {
  serviceRequestStatusOf,
  taskStatusOf,
  toFeedbackTask,
  toServiceRequestStatus,
  type ReferralStatus,
} from '../../../mappings/practice/to-task';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';

const ctx = {
  feedbackId: '3f1c1f5e-8b0a-4b5e-9d52-3c3f9a1d2e10',
  referralIdentifier: { system: 'urn:agb:01234567:referral', value: 'ref-1' },
  municipalityCode: 'GM0226',
  at: '2026-11-21T09:00:00.000Z',
};

describe('feedback mapping: status update → Task and ServiceRequest status', () => {
  it.each([
    ['accepted', 'active', 'accepted'],
    ['allocated', 'active', 'in-progress'],
    ['rejected', 'revoked', 'rejected'],
    ['closed', 'completed', 'completed'],
  ] as [ReferralStatus, string, string][])('%s → ServiceRequest %s, Task %s', (status, sr, task) => {
    expect(serviceRequestStatusOf(status)).toBe(sr);
    expect(taskStatusOf(status)).toBe(task);
  });

  it('builds a valid Task whose focus is the practice’s referral and whose output holds the allocation', () => {
    initFhirValidation();
    const task = toFeedbackTask(
      {
        status: 'allocated',
        productCategory: '45',
        provider: { agb: '12345678', name: 'Jeugdhulp Betuwe' },
        startDate: '2026-12-01',
        reason: 'Ambulante hulp past',
      },
      ctx,
    );
    expect(validateResource(task).filter((i) => i.severity === 'error')).toEqual([]);
    expect(task.focus).toEqual({ type: 'ServiceRequest', identifier: ctx.referralIdentifier });
    expect(task.businessStatus?.coding?.[0]?.code).toBe('allocated');
    expect(task.output?.map((o) => o.type.coding?.[0]?.code)).toEqual(['product-category', 'provider', 'start-date']);
    expect(task.owner?.display).toBe('Jeugdhulp Betuwe');
  });

  it('builds a minimal valid ServiceRequest carrying only the new status', () => {
    initFhirValidation();
    const sr = toServiceRequestStatus({
      id: '7b4c7a4e-6d36-5b6e-9a4e-1f0c2a8f0c11',
      identifier: ctx.referralIdentifier,
      patientBsn: '111222333',
      status: 'rejected',
    });
    expect(validateResource(sr).filter((i) => i.severity === 'error')).toEqual([]);
    expect(Object.keys(sr).sort()).toEqual(['id', 'identifier', 'intent', 'resourceType', 'status', 'subject']);
    expect(sr.status).toBe('revoked');
  });
});
