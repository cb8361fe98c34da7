import { validateResource } from '@medplum/core';
import {
  serviceRequestStatusOf,
  statusDateOf,
  taskStatusOf,
  toFeedbackTask,
  toServiceRequestStatus,
  type ReferralStatus,
} from '../../../mappings/practice/to-task';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';
import { CODE_SYSTEMS, getCoding, isKnownCode, REFERRAL_ALLOCATION_SYSTEM } from '../../../src/kernel/fhir/terminology';

const ctx = {
  feedbackId: '3f1c1f5e-8b0a-4b5e-9d52-3c3f9a1d2e10',
  referralIdentifier: { system: 'urn:agb:01234567:referral', value: 'ref-1' },
  municipalityCode: 'GM0226',
  at: '2026-11-21T09:00:00.000Z',
  statusDate: '2026-11-21',
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
    expect(task.output?.map((o) => o.type.coding?.[0]?.code)).toEqual([
      'status-date',
      'product-category',
      'provider',
      'start-date',
    ]);
    expect(task.owner?.display).toBe('Jeugdhulp Betuwe');
  });

  it.each([
    ['received', { date: '2026-11-22' }, undefined],
    ['accepted', { date: '2026-11-23' }, undefined],
    ['rejected', { reasonCode: 'other-municipality', date: '2026-11-23' }, undefined],
    ['closed', { date: '2026-11-30' }, undefined],
    [
      'decision-issued',
      { decision: { number: 'B-1', date: '2026-11-25', productCategory: '45', period: { start: '2026-12-01' } } },
      undefined,
    ],
    ['allocated', { startDate: '2026-12-01' }, { start: '2026-12-01' }],
    ['care-started', { startDate: '2026-12-02' }, { start: '2026-12-02' }],
    ['care-ended', { endDate: '2027-03-01' }, { end: '2027-03-01' }],
  ] as [ReferralStatus, object, object | undefined][])(
    'says in output status-date the day a %s status took effect; executionPeriod stays the period of care',
    (status, details, executionPeriod) => {
      initFhirValidation();
      const update = { status, ...details };
      const statusDate = statusDateOf(update)!;
      const task = toFeedbackTask(update, { ...ctx, statusDate });
      expect(validateResource(task).filter((i) => i.severity === 'error')).toEqual([]);
      expect(task.executionPeriod).toEqual(executionPeriod);
      const output = task.output?.find((o) => o.type.coding?.[0]?.code === 'status-date');
      expect(output?.valueDate).toBe(statusDate);
    },
  );

  it('types every Task.output with a code the published referral-allocation CodeSystem lists, with its display', () => {
    const task = toFeedbackTask(
      {
        status: 'care-ended',
        productCategory: '45',
        provider: { agb: '12345678' },
        startDate: '2026-12-01',
        endDate: '2027-03-01',
        decision: { number: 'B-1', date: '2026-11-25', productCategory: '45', period: { start: '2026-12-01' } },
      },
      ctx,
    );
    const codings = task.output?.map((o) => o.type.coding?.[0]) ?? [];
    expect(codings).toHaveLength(8);
    for (const coding of codings) {
      expect(coding?.system).toBe(REFERRAL_ALLOCATION_SYSTEM);
      expect([coding?.code, isKnownCode(REFERRAL_ALLOCATION_SYSTEM, coding?.code ?? '')]).toEqual([coding?.code, true]);
      expect(coding).toEqual(getCoding(REFERRAL_ALLOCATION_SYSTEM, coding?.code ?? ''));
    }
    expect(CODE_SYSTEMS.map((c) => c.url)).toContain(REFERRAL_ALLOCATION_SYSTEM);
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
