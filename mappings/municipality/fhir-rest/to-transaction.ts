import type {
  Bundle,
  BundleEntry,
  Consent,
  Identifier,
  Parameters,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';
import type { DeliveryEventType } from '../../../src/contracts/delivery-event-type';
import {
  DELIVERY_ID_SYSTEM,
  logicalVersionReference,
  parseLocalReference,
  RESOURCE_ID_SYSTEM,
  rewriteReferences,
  uuidFullUrl,
  withResourceIdentifier,
} from '../shared/resource-identifier';

/**
 * The outgoing mapping for FHIR REST receivers: the (already minimised) resources of one event as a transaction
 * Bundle in which a replay or a duplicate delivery never creates a second copy.
 *
 * - Every resource carries the identifier `RESOURCE_ID_SYSTEM|<deterministic id>` and is sent as a conditional
 *   create: `POST Type` with `ifNoneExist: identifier=<system>|<id>`. The receiver assigns its own ids; a second
 *   delivery finds the first copy and creates nothing.
 * - References between resources in the Bundle point at their `urn:uuid:` fullUrls, which the receiver resolves
 *   to whatever id it assigned (or found). A reference to a resource that is not in the Bundle (an Encounter's
 *   EpisodeOfCare sent earlier) becomes a conditional reference `Type?identifier=<system>|<id>`. The one exception:
 *   the consent a withdrawal notice cites (`Consent/<id>/_history/<v>`), which the receiver never holds, so a
 *   conditional reference would fail its transaction, and an absolute one at our logical base is refused by servers
 *   that refuse references to other servers (HAPI's default): it becomes a logical reference by identifier, the
 *   version in `display`.
 * - Exceptions that change what the receiver already holds, idempotent as well: the referral's ServiceRequest is a
 *   conditional update (`PUT ServiceRequest?identifier=…`), so a corrected referral (the practice's same referral
 *   id in a later event) replaces the copy the receiver holds, where a conditional create would keep the first;
 *   `contact.recorded` sends the Encounter the same way (a corrected contact: duration, mode, start, interventions),
 *   and its EpisodeOfCare too when the contact closes the trajectory (an open one stays a conditional create: a late
 *   contact or a redelivery after the closure would otherwise reopen the trajectory at the receiver); the referral's
 *   cancellation changes only that copy's status (a FHIRPath Patch on the same identifier): it carries identifiers
 *   and status alone (policy/decide.ts, `permitted-as-cancellation`), and as an update it would erase the rest of
 *   the referral the receiver holds; the child and the rest stay conditional creates, the municipality's records
 *   once received;
 *   `trajectory.closed` sends the EpisodeOfCare the same
 *   way (`PUT EpisodeOfCare?identifier=…`), so a receiver that holds it from earlier contacts learns that it finished
 *   and how; `monitoring.report` sends the MeasureReport the same way (its id names the municipality and the period,
 *   so a later push of the same period replaces the earlier figures); `referral.status` (feedback to the practice, whose
 *   own ServiceRequest it is) changes only its status, with a FHIRPath Patch on the HIS's referral identifier (or its id: `statusPatchEntry`).
 * - A municipality-registered trajectory (to the practice): its closure sends the EpisodeOfCare as a conditional
 *   update, so the practice's copy finishes; the intake, a contact or a referral carries it as a conditional create,
 *   which opens it when it is new and never undoes a closure that arrived first (a retried or replayed intake after
 *   the closure).
 */
const TRAJECTORY_STATE_CHANGES: ReadonlySet<DeliveryEventType> = new Set([
  'trajectory.closed',
  'municipality.trajectory.closure',
]);

export function toTransactionBundle(
  resources: readonly Resource[],
  idempotencyKey: string,
  eventType: DeliveryEventType = 'referral.created',
): Bundle {
  const inBundle = new Set(resources.map((r) => r.id).filter((id): id is string => !!id));
  const entries = resources.map((resource): BundleEntry => {
    const id = resource.id ?? '';
    if (eventType === 'referral.status' && resource.resourceType === 'ServiceRequest') {
      return statusPatchEntry(resource);
    }
    if (eventType === 'referral.cancelled' && resource.resourceType === 'ServiceRequest') {
      return statusPatchEntry(resource, { system: RESOURCE_ID_SYSTEM, value: id });
    }
    const body = rewriteReferences(withoutId(withResourceIdentifier(resource)), (reference) => {
      const local = parseLocalReference(reference);
      if (!local) {
        return undefined;
      }
      return inBundle.has(local.id) ? uuidFullUrl(local.id) : `${local.type}?${identifierQuery(local.id)}`;
    });
    const cited =
      body.resourceType === 'Consent' ? logicalVersionReference(body.sourceReference?.reference) : undefined;
    return {
      fullUrl: uuidFullUrl(id),
      resource: cited ? ({ ...body, sourceReference: cited } as Consent) : body,
      request: isConditionalUpdate(resource, eventType)
        ? { method: 'PUT', url: `${resource.resourceType}?${identifierQuery(id)}` }
        : { method: 'POST', url: resource.resourceType, ifNoneExist: identifierQuery(id) },
    };
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    identifier: { system: DELIVERY_ID_SYSTEM, value: idempotencyKey },
    entry: entries,
  };
}

/**
 * Whether the event's copy of `resource` replaces the one the receiver holds. The contact's Encounter does (a
 * corrected contact: the practice's same contact id in a later event), and so does an EpisodeOfCare the HIS event
 * closes; an open one does not, since a late contact or a redelivery after the closure would reopen the trajectory.
 */
function isConditionalUpdate(resource: Resource, eventType: DeliveryEventType): boolean {
  return (
    (eventType === 'referral.created' && resource.resourceType === 'ServiceRequest') ||
    (eventType === 'contact.recorded' && resource.resourceType === 'Encounter') ||
    (resource.resourceType === 'EpisodeOfCare' &&
      (TRAJECTORY_STATE_CHANGES.has(eventType) ||
        (eventType === 'contact.recorded' && resource.status === 'finished'))) ||
    (eventType === 'monitoring.report' && resource.resourceType === 'MeasureReport')
  );
}

/** `identifier=<system>|<value>`, as FHIR search writes a token (unencoded, as the specification's examples do). */
function identifierQuery(id: string, identifier: Identifier = { system: RESOURCE_ID_SYSTEM, value: id }): string {
  return `identifier=${identifier.system ?? ''}|${identifier.value ?? ''}`;
}

function withoutId<T extends Resource>(resource: T): T {
  const copy = { ...resource };
  delete copy.id;
  return copy;
}

/**
 * A ServiceRequest the receiver holds gets only its new status, with what we send (which is less) leaving the rest
 * as it is. The practice's own is addressed as the HIS knows it: by its first business identifier (the HIS's own, or
 * `urn:agb:<agb>:referral|<its id>`) as a conditional patch, or when it carries none (a FHIR HIS that sent its
 * ServiceRequest's id only) by that id, `ServiceRequest/<id>` relative to the HIS's base. A municipality's copy of a
 * referral it received is addressed by the identifier it was sent with (`by`).
 */
function statusPatchEntry(request: ServiceRequest, by?: Identifier): BundleEntry {
  const own = by ?? request.identifier?.find((i) => i.system !== RESOURCE_ID_SYSTEM);
  const patch: Parameters = {
    resourceType: 'Parameters',
    parameter: [
      {
        name: 'operation',
        part: [
          { name: 'type', valueCode: 'replace' },
          { name: 'path', valueString: 'ServiceRequest.status' },
          { name: 'value', valueCode: request.status },
        ],
      },
    ],
  };
  const url = own ? `ServiceRequest?${identifierQuery('', own)}` : `ServiceRequest/${request.id ?? ''}`;
  return { resource: patch, request: { method: 'PATCH', url } };
}
