import type { Bundle, BundleEntry, Parameters, Resource } from '@medplum/fhirtypes';
import type { DeliveryEventType } from '../../../src/contracts/delivery-event-type';
import { DELIVERY_ID_SYSTEM, LOGICAL_BASE, uuidFullUrl, withResourceIdentifier } from '../shared/resource-identifier';

/** Profiles of the FHIR Subscriptions R5 Backport IG for R4, whose notification shape this follows. */
export const BACKPORT_NOTIFICATION_PROFILE =
  'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4';
const BACKPORT_STATUS_PROFILE =
  'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4';
/** Our topics: one per event type (`…/SubscriptionTopic/referral.created`). */
const TOPIC_BASE = 'https://jeugdbrug.nl/fhir/SubscriptionTopic';

export interface NotificationContext {
  readonly idempotencyKey: string;
  readonly eventType: DeliveryEventType;
  /** Names the "subscription": the destination (or practice endpoint) id. */
  readonly subscriptionId: string;
  /**
   * When the event occurred (`notification-event.timestamp`, as the Backport IG defines it): the same on every
   * attempt and replay, so a receiver keying or ordering on it sees one event.
   */
  readonly occurredAt: string;
  /** When this notification was made (`Bundle.timestamp`): new on each attempt. Injected so the mapping stays pure. */
  readonly timestamp: string;
}

/**
 * The outgoing mapping for signed webhooks: an R4 "full-resource" subscription notification as the Backport IG
 * shapes it. `Bundle.type = history`; the first entry is the SubscriptionStatus (as R4 `Parameters`) naming the
 * topic and the event, whose `focus` is the event's main resource; then every resource, as it stands.
 *
 * `notification-event.event-number` carries the idempotency key rather than a counter: a delivery may be repeated
 * (at least once), and a receiver must treat a repeat as the same event, not as a gap.
 */
export function toNotificationBundle(resources: readonly Resource[], ctx: NotificationContext): Bundle {
  const focus = mainResourceOf(resources, ctx.eventType);
  const status: Parameters = {
    resourceType: 'Parameters',
    meta: { profile: [BACKPORT_STATUS_PROFILE] },
    parameter: [
      { name: 'subscription', valueReference: { reference: `${LOGICAL_BASE}/Subscription/${ctx.subscriptionId}` } },
      { name: 'topic', valueCanonical: `${TOPIC_BASE}/${ctx.eventType}` },
      { name: 'status', valueCode: 'active' },
      { name: 'type', valueCode: 'event-notification' },
      {
        name: 'notification-event',
        part: [
          { name: 'event-number', valueString: ctx.idempotencyKey },
          { name: 'timestamp', valueInstant: ctx.occurredAt },
          ...(focus?.id ? [{ name: 'focus', valueReference: { reference: fullUrlOf(focus) } }] : []),
        ],
      },
    ],
  };
  const entries: BundleEntry[] = [
    {
      fullUrl: uuidFullUrl(ctx.idempotencyKey),
      resource: status,
      request: { method: 'GET', url: `Subscription/${ctx.subscriptionId}/$status` },
      response: { status: '200' },
    },
    ...resources.map((r): BundleEntry => ({
      fullUrl: fullUrlOf(r),
      resource: withResourceIdentifier(r),
      request: { method: 'PUT', url: `${r.resourceType}/${r.id ?? ''}` },
      response: { status: '200' },
    })),
  ];
  return {
    resourceType: 'Bundle',
    meta: { profile: [BACKPORT_NOTIFICATION_PROFILE] },
    identifier: { system: DELIVERY_ID_SYSTEM, value: ctx.idempotencyKey },
    type: 'history',
    timestamp: ctx.timestamp,
    entry: entries,
  };
}

function fullUrlOf(r: Resource): string {
  return `${LOGICAL_BASE}/${r.resourceType}/${r.id ?? ''}`;
}

/** What the event is about: the referral, the contact, the trajectory, (feedback) the Task, or the MeasureReport. */
function mainResourceOf(resources: readonly Resource[], eventType: DeliveryEventType): Resource | undefined {
  const type = MAIN_TYPE[eventType];
  return resources.find((r) => r.resourceType === type) ?? resources[0];
}

const MAIN_TYPE: Record<DeliveryEventType, string> = {
  'referral.created': 'ServiceRequest',
  'referral.cancelled': 'ServiceRequest',
  'referral.status': 'Task',
  'contact.recorded': 'Encounter',
  'trajectory.closed': 'EpisodeOfCare',
  'consent.recorded': 'Consent',
  'consent.withdrawn': 'Consent',
  'consent.entered-in-error': 'Consent',
  'municipality.trajectory.intake': 'EpisodeOfCare',
  'municipality.trajectory.contact': 'Encounter',
  'municipality.trajectory.referral': 'ServiceRequest',
  'municipality.trajectory.closure': 'EpisodeOfCare',
  'monitoring.report': 'MeasureReport',
};
