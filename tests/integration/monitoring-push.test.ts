import { validateResource } from '@medplum/core';
import type { AuditEvent, Bundle, MeasureReport, Parameters } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { initFhirValidation } from '../../src/kernel/fhir/validation';
import { runScheduledPushes } from '../../src/reports/monitoring/report-push';
import {
  buildAgreement,
  buildContactEvent,
  buildDestination,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { DeliveryReceiver, type Hit } from '../helpers/delivery-receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The quarterly monitoring report pushed to a municipality's destination as a delivery of its own
 * (`monitoring.report`): in each of the three formats, through the same retries, dead letters and replay as a
 * referral, with an idempotency key per municipality, period and report version, audited as a disclosure, and
 * holding nothing about any one child.
 */

const SECRET = `whsec_${Buffer.from('monitoring-push-webhook-secret-0123').toString('base64')}`;
process.env.TEST_MONITORING_WEBHOOK_SECRET = SECRET;

const WEBHOOK_MUNICIPALITY = 'GM0344';
const ISAMENLEVING_MUNICIPALITY = 'GM0274';
/** Has a destination, but its agreement does not name purpose monitoring. */
const NO_MONITORING_MUNICIPALITY = 'GM0202';
/** Has a destination; its agreement with purpose monitoring ended on 2026-06-30. */
const ENDED_MUNICIPALITY = 'GM0289';
const CHILD_FAMILY_NAME = 'Oudewater-Kleinsma';

const monitoring = {
  aggregateWithoutConsent: true,
  q: 9500,
  professionalCost: { amount: 72_000, per: 'year' as const },
  k: 2,
};

let app: TestApp;
let receiver: DeliveryReceiver;
/** The webhook's own receiver: it refuses every unsigned POST, as a webhook receiver must. */
let hookReceiver: DeliveryReceiver;
const seededBsns: string[] = [];
/** The practice's own ids of the seeded children, trajectories and contacts. */
const seededIds: string[] = [];

interface PushAnswer {
  deliveryId: string;
  eventId: string;
  destination: string;
  state: string;
  idempotencyKey: string;
  period: string;
  version: string;
  duplicate: boolean;
}

async function push(query: string, key: KeyName = 'municipality'): Promise<{ status: number; body: PushAnswer }> {
  const res = await app.request(`/municipality/v1/monitoring/$push?${query}`, { method: 'POST', key });
  return { status: res.status, body: (await res.json()) as PushAnswer };
}

interface DeliveryState {
  state: string;
  attempts: number;
  idempotency_key: string;
  last_error: string | null;
}

async function deliveryState(id: string): Promise<DeliveryState> {
  const [row] = await app.rt.ctx.db.query<DeliveryState>(
    'SELECT state, attempts, idempotency_key, last_error FROM delivery WHERE id = $1',
    [id],
  );
  if (!row) {
    throw new Error(`no delivery ${id}`);
  }
  return row;
}

async function reaches(deliveryId: string, state: string): Promise<void> {
  await waitFor(`delivery ${deliveryId} to be ${state}`, async () => {
    const row = await deliveryState(deliveryId);
    if (row.state !== state && row.state !== 'pending') {
      throw new Error(`delivery ${deliveryId} is ${row.state}: ${row.last_error ?? ''}`);
    }
    return row.state === state;
  });
}

async function report(query: string, key: KeyName = 'municipality'): Promise<MeasureReport> {
  const res = await app.request(`/municipality/v1/monitoring?${query}`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as MeasureReport;
}

/** The figures of a report, without what differs between two copies of it: when it was made, and ids. */
function figures(r: MeasureReport): MeasureReport {
  const copy: MeasureReport = { ...r };
  delete copy.date;
  delete copy.id;
  delete copy.identifier;
  return copy;
}

function expectValid(r: MeasureReport): void {
  initFhirValidation();
  expect(validateResource(r).filter((i) => i.severity === 'error' || i.severity === 'fatal')).toEqual([]);
}

/** Nothing that could single out a child: no BSN, no name, no source ids of the practice's records. */
function expectNoPersonalData(hit: Hit): void {
  for (const bsn of seededBsns) {
    expect(hit.raw).not.toContain(bsn);
  }
  expect(hit.raw).not.toContain(CHILD_FAMILY_NAME);
  for (const id of seededIds) {
    expect(hit.raw).not.toContain(id);
  }
}

async function auditRows(tenant: string): Promise<AuditEvent[]> {
  const rows = await app.rt.ctx.db.query<{ resource: AuditEvent }>(
    'SELECT resource::json AS resource FROM audit_event WHERE tenant = $1 ORDER BY seq',
    [tenant],
  );
  return rows.map((r) => r.resource);
}

function disclosuresOf(events: AuditEvent[], reportId: string): AuditEvent[] {
  return events.filter(
    (e) =>
      e.type.code === '110106' &&
      e.entity?.some((x) => x.what?.reference === `MeasureReport/${reportId}`) &&
      e.purposeOfEvent?.[0]?.coding?.[0]?.code === 'monitoring',
  );
}

beforeAll(async () => {
  receiver = await new DeliveryReceiver().start();
  hookReceiver = await new DeliveryReceiver().start();
  hookReceiver.webhookSecret = SECRET;
  const agreementFor = (
    id: string,
    code: string,
    name: string,
    purposes = buildAgreement().purposes,
    validTo?: string,
  ) => buildAgreement({ id, municipality: { code, name }, purposes, monitoring, validTo });
  app = await startTestApp({
    env: { DELIVERY_MAX_ATTEMPTS: '3', DELIVERY_BACKOFF_BASE_MS: '50', DELIVERY_BACKOFF_MAX_MS: '100' },
    registry: buildRegistry({
      agreements: [
        agreementFor('overbetuwe', MUNICIPALITY, 'Overbetuwe'),
        // A second practice's agreement with the same municipality: the report covers both.
        { ...agreementFor('overbetuwe-other', MUNICIPALITY, 'Overbetuwe'), practice: { agb: OTHER_PRACTICE_AGB } },
        agreementFor('lingewaard', WEBHOOK_MUNICIPALITY, 'Lingewaard', undefined, '2027-12-31'),
        agreementFor('renkum', ISAMENLEVING_MUNICIPALITY, 'Renkum'),
        agreementFor('arnhem', NO_MONITORING_MUNICIPALITY, 'Arnhem', ['referral', 'contact-registration']),
        agreementFor('wageningen', ENDED_MUNICIPALITY, 'Wageningen', undefined, '2026-06-30'),
      ],
      destinations: [
        buildDestination(receiver.url('/fhir'), { timeoutMs: 1000 }),
        buildDestination(hookReceiver.url('/hook'), {
          id: 'gm0344',
          municipality: WEBHOOK_MUNICIPALITY,
          adapter: 'webhook',
          auth: { type: 'hmac', secretEnv: 'TEST_MONITORING_WEBHOOK_SECRET' },
        }),
        buildDestination(receiver.url('/iso'), {
          id: 'gm0274',
          municipality: ISAMENLEVING_MUNICIPALITY,
          adapter: 'isamenleving',
        }),
        buildDestination(receiver.url('/arnhem'), { id: 'gm0202', municipality: NO_MONITORING_MUNICIPALITY }),
        buildDestination(receiver.url('/wageningen'), { id: 'gm0289', municipality: ENDED_MUNICIPALITY }),
      ],
    }),
  });
  // Trajectories in 2026-Q3 for Overbetuwe, each a named child with a BSN: none of that may leave in the report.
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const event = buildContactEvent({ start: `2026-08-${String(10 + i).padStart(2, '0')}T10:00:00+02:00` });
    const child = event.child as { bsn: string; name: { family: string } };
    child.name.family = CHILD_FAMILY_NAME;
    seededBsns.push(child.bsn);
    seededIds.push(
      String((event.child as { id: string }).id),
      String((event.trajectory as { id: string }).id),
      String((event.contact as { id: string }).id),
    );
    event.trajectory = {
      ...(event.trajectory as object),
      startDate: `2026-07-${String(10 + i).padStart(2, '0')}`,
      ...(i < 4 ? { closedOn: '2026-09-20', outcome: i < 3 ? 'closed-without-referral' : 'escalated' } : {}),
    };
    const res = await app.request('/his/v1/events', { json: event });
    const body = (await res.json()) as { receipts: { id: string }[] };
    if (res.status !== 202) {
      throw new Error(`seeding failed: ${res.status} ${JSON.stringify(body)}`);
    }
    ids.push(body.receipts[0]?.id ?? '');
  }
  await waitFor('the seeded events to be mapped', async () => {
    const rows = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox WHERE id = ANY($1::uuid[]) AND state NOT IN ('received', 'mapped')`,
      [ids],
    );
    return rows[0]?.n === ids.length;
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await receiver?.stop();
  await hookReceiver?.stop();
  if (app) {
    await cleanupTestEnv(app.testEnv);
  }
});

beforeEach(() => {
  receiver.mode = { kind: 'ok' };
  receiver.script = [];
});

describe('pushing the monitoring report to the municipality', () => {
  it('sends the MeasureReport that GET answers for the period to a FHIR server, as a conditional update', async () => {
    const { status, body } = await push('period=2026-Q3');
    expect(status).toBe(202);
    expect(body).toMatchObject({ destination: 'gm0226', state: 'pending', period: '2026-Q3', duplicate: false });
    await reaches(body.deliveryId, 'delivered');

    const hits = receiver.hitsFor(body.idempotencyKey);
    expect(hits).toHaveLength(1);
    const hit = hits[0]!;
    expect(hit.path).toBe('/fhir');
    const bundle = hit.body as Bundle;
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry).toHaveLength(1);
    const entry = bundle.entry![0]!;
    // Identified by municipality and period, so a later version of the same quarter replaces this one.
    expect(entry.request).toEqual({
      method: 'PUT',
      url: 'MeasureReport?identifier=https://jeugdbrug.nl/fhir/NamingSystem/resource-id|monitoring-GM0226-2026-Q3',
    });
    const sent = entry.resource as MeasureReport;
    expect(sent.identifier).toEqual([
      { system: 'https://jeugdbrug.nl/fhir/NamingSystem/resource-id', value: 'monitoring-GM0226-2026-Q3' },
    ]);
    expectValid(sent);
    const served = await report('period=2026-Q3');
    expect(figures(sent)).toEqual(figures(served));
    // Not an empty report: the seeded trajectories are in it.
    const inflow = sent.group?.find((g) => g.code?.coding?.[0]?.code === 'inflow');
    expect(inflow?.population?.[0]?.count).toBe(6);
    expectNoPersonalData(hit);
  });

  it('answers a second push of the same figures with the first delivery and its idempotency key, sending nothing', async () => {
    // The first push of 2026-Q3 was the test above; these are the second and third.
    const first = await push('period=2026-Q3');
    const again = await push(`period=2026-Q3&municipality=${MUNICIPALITY}`, 'operator');
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    expect(again.body.deliveryId).toBe(first.body.deliveryId);
    expect(again.body.idempotencyKey).toBe(first.body.idempotencyKey);
    expect(receiver.hitsFor(first.body.idempotencyKey)).toHaveLength(1);
  });

  it('retries a failing receiver, makes a dead letter of it, and delivers it with the same key when replayed', async () => {
    receiver.script = [
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
      { kind: 'status', status: 503 },
    ];
    const { status, body } = await push('period=2026-Q2');
    expect(status).toBe(202);
    await reaches(body.deliveryId, 'dead');
    expect((await deliveryState(body.deliveryId)).attempts).toBe(3);
    const dead = (await (await app.request('/admin/v1/dead-letters', { key: 'operator' })).json()) as {
      deadLetters: { id: string; eventType: string; practice: string | null }[];
    };
    expect(dead.deadLetters.map((d) => d.id)).toContain(body.deliveryId);
    // Recognisable as the report it is, not attributed to a practice.
    expect(dead.deadLetters.find((d) => d.id === body.deliveryId)).toEqual(
      expect.objectContaining({ eventType: 'monitoring.report', practice: null }),
    );

    const replay = await app.request(`/admin/v1/dead-letters/${body.deliveryId}/replay`, {
      key: 'operator',
      method: 'POST',
    });
    expect(replay.status).toBe(202);
    await reaches(body.deliveryId, 'delivered');
    const hits = receiver.hitsFor(body.idempotencyKey);
    expect(hits).toHaveLength(4);
    expect(receiver.stored.has(body.idempotencyKey)).toBe(true);
    // A failed disclosure and then a successful one, each audited.
    const audited = disclosuresOf(await auditRows('system'), 'monitoring-GM0226-2026-Q2');
    expect(audited.map((e) => e.outcome)).toEqual(['8', '0']);
  });

  it('audits the disclosure with purpose monitoring and the municipality as recipient, and the push itself', async () => {
    const events = await auditRows('system');
    const [disclosure, ...more] = disclosuresOf(events, 'monitoring-GM0226-2026-Q3');
    expect(more).toEqual([]);
    expect(disclosure?.outcome).toBe('0');
    // Every agreement the report covers: both practices' (it named only the first).
    expect(
      disclosure?.entity?.filter((x) => x.what?.reference?.startsWith('Agreement/')).map((x) => x.what?.reference),
    ).toEqual(['Agreement/overbetuwe', 'Agreement/overbetuwe-other']);
    expect(JSON.stringify(disclosure?.agent)).toContain(MUNICIPALITY);
    // No child is the subject of an aggregate disclosure.
    expect(disclosure?.entity?.some((x) => x.what?.identifier?.system?.includes('bsn'))).toBe(false);
    expect(
      events.some(
        (e) =>
          e.subtype?.some((s) => s.code === 'push') &&
          e.entity?.some((x) => x.what?.reference === 'MeasureReport/monitoring-GM0226-2026-Q3'),
      ),
    ).toBe(true);
    // The municipality sees what it received in its own audit search.
    const res = await app.request('/fhir/AuditEvent?entity=MeasureReport/monitoring-GM0226-2026-Q3&subtype=disclose', {
      key: 'municipality',
    });
    expect(res.status).toBe(200);
    const found = (await res.json()) as Bundle<AuditEvent>;
    expect(found.entry?.map((e) => e.resource?.outcome)).toEqual(['0']);
  });

  it("audits an operator's push with the municipality as an agent, so the municipality's audit search finds it", async () => {
    const { status } = await push(`period=2026-Q1&municipality=${MUNICIPALITY}`, 'operator');
    expect(status).toBe(202);
    const res = await app.request('/fhir/AuditEvent?entity=MeasureReport/monitoring-GM0226-2026-Q1&subtype=push', {
      key: 'municipality',
    });
    expect(res.status).toBe(200);
    const found = ((await res.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource) ?? [];
    expect(found).toHaveLength(1);
    const who = found[0]?.agent.map((a) => `${a.who?.identifier?.system ?? ''}|${a.who?.identifier?.value ?? ''}`);
    expect(who).toContain(`https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|${MUNICIPALITY}`);
    expect(found[0]?.agent.some((a) => a.requestor && JSON.stringify(a.who).includes('operator'))).toBe(true);
  });

  it('sends it to a webhook in a signed notification whose focus is the MeasureReport', async () => {
    const { status, body } = await push(`period=2026-Q3&municipality=${WEBHOOK_MUNICIPALITY}`, 'operator');
    expect(status).toBe(202);
    await reaches(body.deliveryId, 'delivered');
    const [hit] = hookReceiver.hitsFor(body.idempotencyKey);
    expect(hit?.path).toBe('/hook');
    expect(hit?.signatureValid).toBe(true);
    const bundle = hit!.body as Bundle;
    const status0 = bundle.entry![0]!.resource as Parameters;
    const param = (name: string) => status0.parameter!.find((p) => p.name === name);
    expect(param('topic')?.valueCanonical).toBe('https://jeugdbrug.nl/fhir/SubscriptionTopic/monitoring.report');
    const focus = param('notification-event')!.part!.find((p) => p.name === 'focus')?.valueReference?.reference;
    const focused = bundle.entry!.find((e) => e.fullUrl === focus)?.resource as MeasureReport;
    expect(focused.resourceType).toBe('MeasureReport');
    expectValid(focused);
    expect(figures(focused)).toEqual(
      figures(await report(`period=2026-Q3&municipality=${WEBHOOK_MUNICIPALITY}`, 'operator')),
    );
    expectNoPersonalData(hit!);
  });

  it('sends it to an iSamenleving-style API as a monitoringrapportage carrying the MeasureReport', async () => {
    const { status, body } = await push(`period=2026-Q3&municipality=${ISAMENLEVING_MUNICIPALITY}`, 'operator');
    expect(status).toBe(202);
    await reaches(body.deliveryId, 'delivered');
    const [hit] = receiver.hitsFor(body.idempotencyKey);
    expect(hit?.path).toBe('/iso/monitoringrapportages');
    const message = hit!.body as {
      berichtId: string;
      berichtType: string;
      gemeente: string;
      periode: { start: string; eind: string };
      rapportage: MeasureReport;
    };
    expect(message).toMatchObject({
      berichtId: body.idempotencyKey,
      berichtType: 'monitoringrapportage',
      gemeente: ISAMENLEVING_MUNICIPALITY,
      periode: { start: '2026-07-01', eind: '2026-09-30' },
    });
    expectValid(message.rapportage);
    expect(figures(message.rapportage)).toEqual(
      figures(await report(`period=2026-Q3&municipality=${ISAMENLEVING_MUNICIPALITY}`, 'operator')),
    );
  });

  it('refuses a push without an agreement with purpose monitoring (409), by a practice or auditor (403), or for a bad period (400)', async () => {
    const refused = await app.request(`/municipality/v1/monitoring/$push?period=2026-Q3&municipality=GM0202`, {
      method: 'POST',
      key: 'operator',
    });
    expect(refused.status).toBe(409);
    // Between the municipality and a practice: the sentence named only the municipality.
    expect(JSON.stringify(await refused.json())).toContain(
      'No agreement with purpose monitoring between municipality GM0202 and any of its practices is in force',
    );
    for (const key of ['practice', 'auditor'] as const) {
      expect(
        (await app.request('/municipality/v1/monitoring/$push?period=2026-Q3', { method: 'POST', key })).status,
      ).toBe(403);
    }
    const other = await app.request(`/municipality/v1/monitoring/$push?period=2026-Q3&municipality=GM0344`, {
      method: 'POST',
      key: 'municipality',
    });
    expect(other.status).toBe(403);
    const bad = await app.request('/municipality/v1/monitoring/$push?period=2026-Q5', {
      method: 'POST',
      key: 'municipality',
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('period');
    const twice = await app.request('/municipality/v1/monitoring/$push?period=2026-Q3&period=2026-Q4', {
      method: 'POST',
      key: 'municipality',
    });
    expect(twice.status).toBe(400);
    expect(await twice.json()).toMatchObject({
      issue: [{ expression: ['period'], details: { text: 'period may be given once' } }],
    });
    const [{ n } = { n: -1 }] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox WHERE event_type = 'monitoring.report' AND municipality = 'GM0202'`,
    );
    expect(n).toBe(0);
    // A pushed report is an event, but not one about a child: the policy engine has nothing to explain about it.
    const pushed = await push('period=2026-Q3');
    const explain = await app.request('/policy/v1/$explain', {
      key: 'operator',
      json: { eventId: pushed.body.eventId },
    });
    expect(explain.status).toBe(400);
    expect(JSON.stringify(await explain.json())).toContain('A monitoring report is about no one child');
  });

  it('pushes a period in which an agreement with purpose monitoring was in force, also once it has ended, and no other (409)', async () => {
    // Wageningen's agreement ended on 2026-06-30: its last quarter is still its to have, and sent.
    const last = await push(`period=2026-Q2&municipality=${ENDED_MUNICIPALITY}`, 'operator');
    expect(last.status).toBe(202);
    await reaches(last.body.deliveryId, 'delivered');
    // A period no agreement covered: after one ended, before any took effect.
    for (const [query, key] of [
      [`period=2026-Q3&municipality=${ENDED_MUNICIPALITY}`, 'operator'],
      ['period=2019', 'municipality'],
    ] as const) {
      const res = await app.request(`/municipality/v1/monitoring/$push?${query}`, { method: 'POST', key });
      expect([query, res.status]).toEqual([query, 409]);
      expect(JSON.stringify(await res.json())).toContain('No agreement with purpose monitoring');
    }
    // A period that has not ended (after the one that runs today ends, too) is not pushed at all: 422 naming period.
    const future = await app.request(
      `/municipality/v1/monitoring/$push?period=2030-Q1&municipality=${WEBHOOK_MUNICIPALITY}`,
      {
        method: 'POST',
        key: 'operator',
      },
    );
    expect(future.status).toBe(422);
    expect(JSON.stringify(await future.json())).toContain('has not ended yet');
    const stored = await app.rt.ctx.db.query<{ municipality: string; source_event_id: string }>(
      `SELECT municipality, source_event_id FROM inbox WHERE event_type = 'monitoring.report'
       AND (source_event_id LIKE '%/2026-Q3/%' AND municipality = $1 OR source_event_id LIKE '%/2030-Q1/%'
            OR source_event_id LIKE '%/2019/%')`,
      [ENDED_MUNICIPALITY],
    );
    expect(stored).toEqual([]);
  });

  it('schedules the previous quarter once per municipality, however many processes run the round', async () => {
    const now = new Date('2027-01-20T08:00:00Z');
    const rounds = await Promise.all([
      runScheduledPushes(app.rt.ctx, now),
      runScheduledPushes(app.rt.ctx, now),
      runScheduledPushes(app.rt.ctx, now),
    ]);
    const pushes = rounds.flat();
    // One per municipality with a destination and a monitoring agreement; Arnhem has none.
    expect(pushes.map((p) => p.delivery.destination).sort()).toEqual(['gm0226', 'gm0274', 'gm0344']);
    expect(await runScheduledPushes(app.rt.ctx, now)).toEqual([]);
    for (const p of pushes) {
      await reaches(p.delivery.id, 'delivered');
      const hits = [
        ...receiver.hitsFor(p.delivery.idempotency_key),
        ...hookReceiver.hitsFor(p.delivery.idempotency_key),
      ];
      expect(hits).toHaveLength(1);
    }
    const claims = await app.rt.ctx.db.query<{ municipality: string; period: string }>(
      'SELECT municipality, period FROM monitoring_push_claim ORDER BY municipality',
    );
    expect(claims).toEqual([
      { municipality: MUNICIPALITY, period: '2026-Q4' },
      { municipality: ISAMENLEVING_MUNICIPALITY, period: '2026-Q4' },
      { municipality: WEBHOOK_MUNICIPALITY, period: '2026-Q4' },
    ]);
    // Stored in the system's chain, never as one of a practice's events.
    const [{ n } = { n: -1 }] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM inbox WHERE event_type = 'monitoring.report' AND tenant = $1`,
      [PRACTICE_AGB],
    );
    expect(n).toBe(0);
  });

  it("pushes the other municipalities' reports when one fails, and tries that one again in the next round", async () => {
    const now = new Date('2027-04-20T08:00:00Z');
    const { cipher } = app.rt.ctx;
    const encrypt = cipher.encrypt.bind(cipher);
    // One municipality's push fails before anything is stored or claimed, as an outage of its own would.
    const sealing = jest.spyOn(cipher, 'encrypt').mockImplementation((plain) => {
      if ((plain as { municipality?: unknown }).municipality === WEBHOOK_MUNICIPALITY) {
        throw new Error('sealing failed');
      }
      return encrypt(plain);
    });
    let first: Awaited<ReturnType<typeof runScheduledPushes>>;
    try {
      first = await runScheduledPushes(app.rt.ctx, now);
    } finally {
      sealing.mockRestore();
    }
    expect(first.map((p) => p.delivery.destination).sort()).toEqual(['gm0226', 'gm0274']);
    const second = await runScheduledPushes(app.rt.ctx, now);
    expect(second.map((p) => p.delivery.destination)).toEqual(['gm0344']);
    expect(await runScheduledPushes(app.rt.ctx, now)).toEqual([]);
    for (const p of [...first, ...second]) {
      await reaches(p.delivery.id, 'delivered');
    }
  });

  it("waits MONITORING_PUSH_DELAY_DAYS (default 14) after the quarter's end, so late registrations count", async () => {
    // 2027-Q2 ends on 30 June: on 14 July (Amsterdam) the round still looks at 2027-Q1, pushed in April already.
    expect(await runScheduledPushes(app.rt.ctx, new Date('2027-07-14T21:30:00Z'))).toEqual([]);
    const claimsOf = (period: string) =>
      app.rt.ctx.db.query<{ municipality: string }>(
        'SELECT municipality FROM monitoring_push_claim WHERE period = $1 ORDER BY municipality',
        [period],
      );
    expect(await claimsOf('2027-Q2')).toEqual([]);
    // 15 July from midnight in Amsterdam (22:00 UTC in summer): 14 whole days have passed.
    const fifteenth = await runScheduledPushes(app.rt.ctx, new Date('2027-07-14T22:30:00Z'));
    expect(fifteenth.map((p) => p.delivery.destination).sort()).toEqual(['gm0226', 'gm0274', 'gm0344']);
    expect(await claimsOf('2027-Q2')).toHaveLength(3);
    // With 0 the round pushes within the hour after the quarter's end, as before the setting.
    const withoutDelay = { ...app.rt.ctx, config: { ...app.rt.ctx.config, MONITORING_PUSH_DELAY_DAYS: 0 } };
    const october = await runScheduledPushes(withoutDelay, new Date('2027-09-30T22:30:00Z'));
    expect(october).toHaveLength(3);
    expect(await claimsOf('2027-Q3')).toHaveLength(3);
    for (const p of [...fifteenth, ...october]) {
      await reaches(p.delivery.id, 'delivered');
    }
  });

  it('schedules the last quarter of an agreement that has ended, and no quarter after it', async () => {
    // Wageningen's agreement ended on 2026-06-30: its 2026-Q2 is pushed in July, its 2026-Q3 in October is not.
    const july = await runScheduledPushes(app.rt.ctx, new Date('2026-07-20T08:00:00Z'));
    expect(july.map((p) => p.delivery.destination)).toContain('gm0289');
    const october = await runScheduledPushes(app.rt.ctx, new Date('2026-10-20T08:00:00Z'));
    expect(october.map((p) => p.delivery.destination).sort()).toEqual(['gm0226', 'gm0274', 'gm0344']);
    for (const p of [...july, ...october]) {
      await reaches(p.delivery.id, 'delivered');
    }
  });
});
