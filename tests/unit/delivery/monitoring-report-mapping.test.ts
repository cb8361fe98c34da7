import type { MeasureReport, Parameters } from '@medplum/fhirtypes';
import { toTransactionBundle } from '../../../mappings/municipality/fhir-rest/to-transaction';
import {
  toISamenlevingMessage,
  type Monitoringrapportage,
} from '../../../mappings/municipality/isamenleving/to-message';
import { RESOURCE_ID_SYSTEM } from '../../../mappings/municipality/shared/resource-identifier';
import { toNotificationBundle } from '../../../mappings/municipality/webhook/to-notification';
import type { Job } from 'bullmq';
import { PermanentDeliveryError } from '../../../src/contracts/delivery-errors';
import type { PipelineContext } from '../../../src/event/context';
import type { DeliveryWork } from '../../../src/event/event-store';
import type { DeliverJobData } from '../../../src/event/queues';
import { agreementDigest, buildRegistry } from '../../../src/event/registry';
import { reportDelivery, reportIdempotencyKeyOf, reportVersionOf } from '../../../src/event/report-delivery';
import { buildAgreement } from '../../helpers/builders';
import { MUNICIPALITY_CODE_SYSTEM } from '../../../src/kernel/fhir/identifiers';

const KEY = 'key-report';
const URN_UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function measureReport(overrides: Partial<MeasureReport> = {}): MeasureReport {
  return {
    resourceType: 'MeasureReport',
    id: 'monitoring-GM0226-2026-Q3',
    status: 'complete',
    type: 'summary',
    measure: 'https://jeugdbrug.nl/fhir/Measure/poh-jeugd-monitoring',
    date: '2026-10-01T08:00:00.000Z',
    reporter: { identifier: { system: MUNICIPALITY_CODE_SYSTEM, value: 'GM0226' }, display: 'Overbetuwe' },
    period: { start: '2026-07-01', end: '2026-09-30' },
    group: [{ code: { coding: [{ code: 'inflow' }] }, population: [{ count: 12 }] }],
    ...overrides,
  };
}

describe('the monitoring report in each destination format', () => {
  it('fhir-rest: one conditional update of the MeasureReport by municipality and period', () => {
    const bundle = toTransactionBundle([measureReport()], KEY, 'monitoring.report');
    expect(bundle.identifier?.value).toBe(KEY);
    expect(bundle.entry).toHaveLength(1);
    const entry = bundle.entry![0]!;
    expect(entry.request).toEqual({
      method: 'PUT',
      url: `MeasureReport?identifier=${RESOURCE_ID_SYSTEM}|monitoring-GM0226-2026-Q3`,
    });
    const sent = entry.resource as MeasureReport;
    expect(sent.id).toBeUndefined();
    // The identifier the conditional update searches by is on the resource, so the receiver stores it to be found.
    expect(sent.identifier).toEqual([{ system: RESOURCE_ID_SYSTEM, value: 'monitoring-GM0226-2026-Q3' }]);
    expect(sent.group).toEqual(measureReport().group);
    // R4 takes only a UUID after urn:uuid:, and the report's id is none: the fullUrl is a UUID made from it.
    expect(entry.fullUrl).toMatch(URN_UUID);
    expect(toTransactionBundle([measureReport()], 'another key', 'monitoring.report').entry![0]!.fullUrl).toBe(
      entry.fullUrl,
    );
  });

  it('webhook: a notification on topic monitoring.report whose focus is the MeasureReport', () => {
    const bundle = toNotificationBundle([measureReport()], {
      idempotencyKey: KEY,
      eventType: 'monitoring.report',
      subscriptionId: 'gm0226',
      occurredAt: '2026-10-01T07:59:58.000Z',
      timestamp: '2026-10-01T08:00:00.000Z',
    });
    const status = bundle.entry![0]!.resource as Parameters;
    const topic = status.parameter!.find((p) => p.name === 'topic')?.valueCanonical;
    expect(topic).toBe('https://jeugdbrug.nl/fhir/SubscriptionTopic/monitoring.report');
    const focus = status.parameter!.find((p) => p.name === 'notification-event')?.part?.find((p) => p.name === 'focus')
      ?.valueReference?.reference;
    expect(bundle.entry!.find((e) => e.fullUrl === focus)?.resource?.resourceType).toBe('MeasureReport');
    // The status entry is named by the idempotency key, which is no UUID: by a UUID made from it.
    expect(bundle.entry![0]!.fullUrl).toMatch(URN_UUID);
  });

  it('isamenleving: a monitoringrapportage carrying the MeasureReport, with the key as berichtId', () => {
    const message = toISamenlevingMessage([measureReport()], 'monitoring.report', KEY)!;
    expect(message.path).toBe('monitoringrapportages');
    expect(message.body as Monitoringrapportage).toEqual({
      berichtId: KEY,
      berichtType: 'monitoringrapportage',
      gemeente: 'GM0226',
      periode: { start: '2026-07-01', eind: '2026-09-30' },
      rapportage: measureReport(),
    });
  });

  it('isamenleving: nothing to send for a report without a municipality as reporter', () => {
    expect(toISamenlevingMessage([measureReport({ reporter: {} })], 'monitoring.report', KEY)).toBeUndefined();
  });
});

describe('the report version and its idempotency key', () => {
  const of = (r: MeasureReport) => ({ municipality: 'GM0226', period: '2026-Q3', version: reportVersionOf(r) });

  it('is the same for the same figures made at another moment', () => {
    const later = measureReport({ date: '2026-12-24T17:00:00.000Z' });
    expect(reportVersionOf(later)).toBe(reportVersionOf(measureReport()));
    expect(reportIdempotencyKeyOf(of(later), 'gm0226')).toBe(reportIdempotencyKeyOf(of(measureReport()), 'gm0226'));
  });

  it('differs when a figure, the period or the destination differs', () => {
    const changed = measureReport({ group: [{ code: { coding: [{ code: 'inflow' }] }, population: [{ count: 13 }] }] });
    expect(reportVersionOf(changed)).not.toBe(reportVersionOf(measureReport()));
    const key = reportIdempotencyKeyOf(of(measureReport()), 'gm0226');
    expect(reportIdempotencyKeyOf(of(changed), 'gm0226')).not.toBe(key);
    expect(reportIdempotencyKeyOf({ ...of(measureReport()), period: '2026-Q2' }, 'gm0226')).not.toBe(key);
    expect(reportIdempotencyKeyOf(of(measureReport()), 'gm0226-b')).not.toBe(key);
  });
});

describe('the monitoring report checked again right before sending', () => {
  // The agreement ended on 2026-06-30: a report of its last quarter may still leave, one of the quarter after not.
  const registry = buildRegistry({
    agreements: [buildAgreement({ id: 'ended', validFrom: '2025-01-01', validTo: '2026-06-30' })],
    destinations: [],
  });
  const prepare = (period: { start: string; end: string }, label: string) => {
    const stored = { municipality: 'GM0226', period: label, version: 'v', report: measureReport({ period }) };
    const ctx = { registry, cipher: { decrypt: () => stored } } as unknown as PipelineContext;
    const work = {
      canonical: 'sealed',
      canonical_key_id: 'k',
      inbox_id: 'i',
      destination: 'gm0226',
    } as unknown as DeliveryWork;
    return reportDelivery.prepare(ctx, {} as Job<DeliverJobData>, work);
  };

  it('sends a period in which the agreement was in force, though it has ended since, resting on that agreement', async () => {
    const shipment = await prepare({ start: '2026-04-01', end: '2026-06-30' }, '2026-Q2');
    // With the digest of the agreement's content, which the disclosure's AuditEvent records.
    expect(typeof shipment === 'object' && shipment.note.agreement).toEqual({
      id: 'ended',
      version: 1,
      digest: agreementDigest(registry.agreements[0]!),
    });
  });

  it('makes a dead letter of a period no agreement covered', () => {
    expect(() => prepare({ start: '2026-07-01', end: '2026-09-30' }, '2026-Q3')).toThrow(PermanentDeliveryError);
  });
});
