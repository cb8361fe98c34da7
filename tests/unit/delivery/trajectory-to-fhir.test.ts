import { validateResource } from '@medplum/core';
import type { Encounter, EpisodeOfCare, ServiceRequest } from '@medplum/fhirtypes';
import { toTransactionBundle } from '../../../mappings/municipality/fhir-rest/to-transaction';
import { trajectoryEventSchema, type TrajectoryEvent } from '../../../mappings/practice/trajectory-event';
import { deliveryEventTypeOf, toPracticeResources } from '../../../mappings/practice/trajectory-to-fhir';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';

const base = {
  eventId: 'gm-1',
  municipality: 'GM0226',
  practice: { agb: '01234567' },
  child: { bsn: '111222333', birthDate: '2013-05-01' },
  trajectory: { id: 'traj-1', startDate: '2026-10-01' },
  date: '2026-10-01',
  helpQuestion: 'school',
};

const event = (extra: Record<string, unknown>): TrajectoryEvent => trajectoryEventSchema.parse({ ...base, ...extra });

const intake = event({ type: 'intake' });
const contact = event({
  type: 'contact',
  date: '2026-10-08',
  contact: { mode: '2', durationMinutes: 30, interventions: ['screening', 'psycho-education'] },
});
const referral = event({ type: 'referral', referral: { id: 'gm-ref-1', target: 'ggz' } });
const closure = event({ type: 'closure', date: '2026-11-15', outcome: 'escalated' });

describe('a municipality-registered trajectory event as FHIR for the practice', () => {
  beforeAll(() => initFhirValidation());

  it.each([
    ['intake', ['EpisodeOfCare'], intake],
    ['contact', ['EpisodeOfCare', 'Encounter'], contact],
    ['referral', ['EpisodeOfCare', 'ServiceRequest'], referral],
    ['closure', ['EpisodeOfCare'], closure],
  ] as const)('maps %s to valid %j', (_kind, types, e) => {
    const resources = toPracticeResources(e);
    expect(resources.map((r) => r.resourceType)).toEqual(types);
    for (const r of resources) {
      expect(() => validateResource(r)).not.toThrow();
    }
  });

  it('carries who referred (COD327) on the EpisodeOfCare and the product category (JZ020) on the referral', () => {
    const e = event({
      type: 'closure',
      date: '2026-11-15',
      outcome: 'escalated',
      trajectory: { ...base.trajectory, referrerType: '06' },
    });
    const episode = toPracticeResources(e)[0] as EpisodeOfCare;
    expect(() => validateResource(episode)).not.toThrow();
    expect(episode.extension?.map((x) => [x.url, x.valueCoding?.system, x.valueCoding?.code])).toEqual([
      [
        'https://jeugdbrug.nl/fhir/StructureDefinition/referrer-type',
        'http://istandaarden.nl/ibieb/codelijsten/COD327',
        '06',
      ],
      [
        'https://jeugdbrug.nl/fhir/StructureDefinition/trajectory-outcome',
        'https://jeugdbrug.nl/fhir/CodeSystem/trajectory-outcome',
        'escalated',
      ],
    ]);
    const withCategory = event({
      type: 'referral',
      referral: { id: 'gm-ref-2', target: 'ggz', productCategory: '54' },
    });
    const request = toPracticeResources(withCategory)[1] as ServiceRequest;
    expect(() => validateResource(request)).not.toThrow();
    expect(request.category?.[0]?.coding?.[0]).toMatchObject({
      system: 'http://istandaarden.nl/ibieb/codelijsten/JZ020',
      code: '54',
      display: 'Jeugd-ggz',
    });
    expect(toPracticeResources(referral)[1]).not.toHaveProperty('category');
  });

  it.each([
    ['a referrer type outside COD327', { trajectory: { ...base.trajectory, referrerType: '07' } }, 'referrerType'],
    [
      'a product category outside JZ020',
      { type: 'referral', referral: { id: 'gm-ref-3', target: 'ggz', productCategory: '53' } },
      'productCategory',
    ],
  ])('refuses %s', (_name, extra, field) => {
    const parsed = trajectoryEventSchema.safeParse({ ...base, type: 'intake', ...extra });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.at(-1))).toContain(field);
  });

  it('keeps one EpisodeOfCare id and identifier for the whole trajectory, finished with its outcome at closure', () => {
    const opened = toPracticeResources(intake)[0] as EpisodeOfCare;
    const finished = toPracticeResources(closure)[0] as EpisodeOfCare;
    expect(finished.id).toBe(opened.id);
    expect(finished.identifier).toEqual(opened.identifier);
    expect(opened).toEqual(expect.objectContaining({ status: 'active', period: { start: '2026-10-01' } }));
    expect(opened).not.toHaveProperty('extension');
    expect(finished).toEqual(
      expect.objectContaining({ status: 'finished', period: { start: '2026-10-01', end: '2026-11-15' } }),
    );
    expect(finished.extension?.[0]?.valueCoding?.code).toBe('escalated');
    expect(finished.patient).toEqual({
      type: 'Patient',
      identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '111222333' },
    });
  });

  it('makes a contact an Encounter with codes only: contact mode, interventions, duration', () => {
    const encounter = toPracticeResources(contact)[1] as Encounter;
    expect(encounter.type?.map((t) => t.coding?.[0]?.code)).toEqual(['2', 'screening', 'psycho-education']);
    expect(encounter.length?.value).toBe(30);
    expect(encounter.episodeOfCare?.[0]?.reference).toBe(`EpisodeOfCare/${toPracticeResources(contact)[0]!.id}`);
    expect(JSON.stringify(encounter)).not.toMatch(/"text"|"note"/);
  });

  it('makes a referral a ServiceRequest to the target, requested by the municipality', () => {
    const request = toPracticeResources(referral)[1] as ServiceRequest;
    expect(request.performerType?.coding?.[0]?.code).toBe('ggz');
    expect(request.requester?.identifier?.value).toBe('GM0226');
    expect(request.code?.coding?.[0]?.code).toBe('3457005');
  });

  it.each([
    // A conditional create: a retried or replayed intake must not reopen an EpisodeOfCare the closure finished.
    ['intake', 'POST', intake],
    ['contact', 'POST', contact],
    ['referral', 'POST', referral],
    ['closure', 'PUT', closure],
  ] as const)('sends the EpisodeOfCare of a(n) %s with %s to a FHIR server', (_kind, method, e) => {
    const bundle = toTransactionBundle(toPracticeResources(e), 'tr-1', deliveryEventTypeOf(e.type));
    const episode = bundle.entry?.find((x) => x.resource?.resourceType === 'EpisodeOfCare');
    expect(episode?.request?.method).toBe(method);
  });
});
