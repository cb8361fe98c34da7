import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MeasureReport, Resource } from '@medplum/fhirtypes';
import type { DeliveryEventType } from '../../../../src/contracts/delivery-event-type';
import { MUNICIPALITY_CODE_SYSTEM } from '../../../../src/kernel/fhir/identifiers';
import { toFeedbackTask, toServiceRequestStatus } from '../../../../mappings/practice/to-task';
import { trajectoryEventSchema } from '../../../../mappings/practice/trajectory-event';
import { toPracticeResources } from '../../../../mappings/practice/trajectory-to-fhir';
import { buildContactEvent, buildReferralEvent } from '../../../helpers/builders';
import { mapped, minimised } from './resources';

/**
 * What a destination format is handed for each delivery event type (src/contracts/delivery-event-type.ts), built as
 * the pipeline builds it, and the id of the event's main resource: a message that carries the event must carry that
 * (as an id, a reference or a `referentie`). `to` says who receives the type: a municipality's destination, or a
 * practice's HIS endpoint (formats with `servesPractices`). Consent events are never delivered: recorded only.
 * A Record over DeliveryEventType, so a new event type cannot be added without saying here what a format gets.
 */
export interface EventTypeCase {
  readonly to: 'municipality' | 'practice';
  readonly resources: () => Resource[];
  readonly mainId: () => string;
}

const FIXTURES = path.join(__dirname, '..', '..', '..', 'fixtures', 'generic-json');

/** A HIS event as the deliver stage hands it over: mapped, then minimised to the test agreement. */
function hisEvent(event: Record<string, unknown>, main: string): EventTypeCase {
  const resources = () => minimised(mapped(event));
  return {
    to: 'municipality',
    resources,
    mainId: () => resources().find((r) => r.resourceType === main)!.id!,
  };
}

const fixture = (name: string) =>
  JSON.parse(readFileSync(path.join(FIXTURES, `${name}.input.json`), 'utf8')) as Record<string, unknown>;

const measureReport: MeasureReport = {
  resourceType: 'MeasureReport',
  id: 'monitoring-GM0226-2026-Q3',
  status: 'complete',
  type: 'summary',
  measure: 'https://jeugdbrug.nl/fhir/Measure/poh-jeugd-monitoring',
  date: '2026-10-01T08:00:00.000Z',
  reporter: { identifier: { system: MUNICIPALITY_CODE_SYSTEM, value: 'GM0226' }, display: 'Overbetuwe' },
  period: { start: '2026-07-01', end: '2026-09-30' },
  group: [{ code: { coding: [{ code: 'inflow' }] }, population: [{ count: 12 }] }],
};

const FEEDBACK_ID = '3f1c1f5e-8b0a-4b5e-9d52-3c3f9a1d2e10';
const referralIdentifier = { system: 'urn:agb:01234567:referral', value: 'ref-1' };

function trajectory(type: 'intake' | 'contact' | 'referral' | 'closure', extra: Record<string, unknown>, main: string) {
  const resources = () =>
    toPracticeResources(
      trajectoryEventSchema.parse({
        eventId: `gm-${type}`,
        type,
        municipality: 'GM0226',
        practice: { agb: '01234567' },
        child: { bsn: '111222333', birthDate: '2013-05-01' },
        trajectory: { id: 'traj-1', startDate: '2026-10-01' },
        date: '2026-10-08',
        helpQuestion: 'school',
        ...extra,
      }),
    );
  return {
    to: 'practice' as const,
    resources,
    mainId: () => resources().find((r) => r.resourceType === main)!.id!,
  };
}

export const EVENT_TYPE_CASES: Record<DeliveryEventType, EventTypeCase | undefined> = {
  'referral.created': hisEvent(buildReferralEvent(), 'ServiceRequest'),
  'referral.cancelled': hisEvent(fixture('referral-cancelled'), 'ServiceRequest'),
  'contact.recorded': hisEvent(buildContactEvent(), 'Encounter'),
  'trajectory.closed': hisEvent(fixture('trajectory-closed-escalated'), 'EpisodeOfCare'),
  'consent.recorded': undefined,
  'consent.withdrawn': undefined,
  'consent.entered-in-error': undefined,
  'monitoring.report': { to: 'municipality', resources: () => [measureReport], mainId: () => measureReport.id! },
  'referral.status': {
    to: 'practice',
    resources: () => [
      toServiceRequestStatus({
        id: 'sr-1',
        identifier: referralIdentifier,
        patientBsn: '111222333',
        status: 'accepted',
      }),
      toFeedbackTask(
        { status: 'accepted' },
        {
          feedbackId: FEEDBACK_ID,
          referralIdentifier,
          municipalityCode: 'GM0226',
          at: '2026-11-21T09:00:00.000Z',
          statusDate: '2026-11-21',
        },
      ),
    ],
    mainId: () => FEEDBACK_ID,
  },
  'municipality.trajectory.intake': trajectory('intake', {}, 'EpisodeOfCare'),
  'municipality.trajectory.contact': trajectory(
    'contact',
    { contact: { mode: '2', durationMinutes: 30, interventions: ['screening'] } },
    'Encounter',
  ),
  'municipality.trajectory.referral': trajectory(
    'referral',
    { referral: { id: 'gm-ref-1', target: 'ggz' } },
    'ServiceRequest',
  ),
  'municipality.trajectory.closure': trajectory('closure', { outcome: 'escalated' }, 'EpisodeOfCare'),
};
