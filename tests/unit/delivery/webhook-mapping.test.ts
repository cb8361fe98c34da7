import type { Encounter, Parameters } from '@medplum/fhirtypes';
import {
  BACKPORT_NOTIFICATION_PROFILE,
  toNotificationBundle,
} from '../../../mappings/municipality/webhook/to-notification';
import { LOGICAL_BASE } from '../../../mappings/municipality/shared/resource-identifier';
import { validateResource } from '@medplum/core';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';
import { buildContactEvent } from '../../helpers/builders';
import { mapped, minimised } from './support/resources';

const ctx = {
  idempotencyKey: 'key-1',
  subscriptionId: 'gm0226',
  occurredAt: '2026-11-20T09:58:12.345Z',
  timestamp: '2026-11-20T10:00:00.000Z',
};

describe('webhook mapping: an R4 Backport subscription notification', () => {
  it('is a history Bundle whose first entry is the SubscriptionStatus and whose focus is the referral', () => {
    const resources = minimised(mapped());
    const bundle = toNotificationBundle(resources, { ...ctx, eventType: 'referral.created' });
    expect(bundle.type).toBe('history');
    expect(bundle.meta?.profile).toEqual([BACKPORT_NOTIFICATION_PROFILE]);
    const status = bundle.entry![0]!.resource as Parameters;
    const param = (name: string) => status.parameter!.find((p) => p.name === name)!;
    expect(param('subscription').valueReference?.reference).toBe(`${LOGICAL_BASE}/Subscription/gm0226`);
    expect(param('status').valueCode).toBe('active');
    const focus = param('notification-event').part!.find((p) => p.name === 'focus')!.valueReference!.reference;
    const sr = resources.find((r) => r.resourceType === 'ServiceRequest')!;
    expect(focus).toBe(`${LOGICAL_BASE}/ServiceRequest/${sr.id}`);
    expect(bundle.entry!.slice(1).map((e) => e.resource?.id)).toEqual(resources.map((r) => r.id));
  });

  it('sends a corrected contact as a new notification whose Encounter has the same id and address', () => {
    const first = buildContactEvent({ durationMinutes: 30 });
    const corrected = {
      ...first,
      eventId: `${String(first.eventId)}-corrected`,
      contact: { ...(first.contact as object), mode: '2' },
    };
    const encounterOf = (event: Record<string, unknown>, idempotencyKey: string) =>
      toNotificationBundle(minimised(mapped(event)), {
        ...ctx,
        idempotencyKey,
        eventType: 'contact.recorded',
      }).entry!.find((e) => e.resource?.resourceType === 'Encounter')!;
    const [a, b] = [encounterOf(first, 'key-a'), encounterOf(corrected, 'key-b')];
    expect(b.fullUrl).toBe(a.fullUrl);
    expect(b.request).toEqual(a.request);
    expect(b.request?.method).toBe('PUT');
    expect((b.resource as Encounter).type).not.toEqual((a.resource as Encounter).type);
  });

  it('dates the event when it occurred and the Bundle when it was made', () => {
    const bundle = toNotificationBundle(minimised(mapped()), { ...ctx, eventType: 'referral.created' });
    const event = (bundle.entry![0]!.resource as Parameters).parameter!.find((p) => p.name === 'notification-event')!;
    expect(event.part!.find((p) => p.name === 'timestamp')?.valueInstant).toBe(ctx.occurredAt);
    expect(bundle.timestamp).toBe(ctx.timestamp);
  });

  it('names the contact as focus of a contact.recorded notification', () => {
    const resources = minimised(mapped(buildContactEvent()));
    const bundle = toNotificationBundle(resources, { ...ctx, eventType: 'contact.recorded' });
    const event = (bundle.entry![0]!.resource as Parameters).parameter!.find((p) => p.name === 'notification-event')!;
    expect(event.part!.find((p) => p.name === 'focus')!.valueReference!.reference).toMatch(/\/Encounter\//);
  });

  it('is a valid FHIR R4 Bundle', () => {
    initFhirValidation();
    const bundle = toNotificationBundle(minimised(mapped()), { ...ctx, eventType: 'referral.created' });
    expect(validateResource(bundle).filter((i) => i.severity === 'error')).toEqual([]);
  });
});
