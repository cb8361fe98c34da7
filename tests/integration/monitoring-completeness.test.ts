import type { MeasureReport } from '@medplum/fhirtypes';
import type pg from 'pg';
import { buildRegistry } from '../../src/event/registry';
import { tryParsePeriod } from '../../src/reports/monitoring/period';
import { countMonitoring } from '../../src/reports/monitoring/report-store';
import { buildAgreement, buildConsentEvent, buildContactEvent, MUNICIPALITY } from '../helpers/builders';
import { sendMapped, startAppWithClient, stopAppWithClient, type AppWithClient } from '../helpers/mapped-events';
import type { TestApp } from '../helpers/test-runtime';

/**
 * The figures report-xpolicy found missing, through the real map stage and reporting store: the trajectories
 * registered but not counted (completeness), the children beside the trajectories, and the contact hours.
 */
describe('completeness, children and contact hours in the reporting store', () => {
  let app: TestApp;
  let client: pg.Client;
  let started: AppWithClient | undefined;
  const Q4 = tryParsePeriod('2026-Q4') ?? { start: '', end: '', label: '' };

  beforeAll(async () => {
    const registry = buildRegistry({
      agreements: [
        buildAgreement({
          legalBasis: 'consent',
          monitoring: {
            aggregateWithoutConsent: false,
            q: 9500,
            professionalCost: { amount: 72_000, per: 'year' },
            k: 5,
          },
        }),
      ],
      destinations: [],
    });
    started = await startAppWithClient(registry);
    ({ app, client } = started);
  });

  afterAll(async () => {
    await stopAppWithClient(started);
  });

  const send = async (events: Record<string, unknown>[]): Promise<void> => {
    await sendMapped({ app, client }, 'practice', events);
  };

  /** A contact of a new child's trajectory started 1 October 2026, on `day`, lasting `minutes`. */
  const contactOf = (minutes: number, day = '2026-11-20'): Record<string, unknown> => {
    const event = buildContactEvent({ start: `${day}T10:00:00+01:00`, durationMinutes: minutes });
    return { ...event, trajectory: { ...(event.trajectory as object), startDate: '2026-10-01' } };
  };
  /** Another contact of the same child and trajectory. */
  const nextContact = (first: Record<string, unknown>, n: number, minutes: number): Record<string, unknown> => ({
    ...first,
    eventId: `${String(first.eventId)}-${n}`,
    contact: {
      ...(first.contact as object),
      id: `${String((first.contact as { id: string }).id)}-${n}`,
      durationMinutes: minutes,
    },
  });
  const consent = (event: Record<string, unknown>, decision: 'permit' | 'deny') =>
    buildConsentEvent(event, {
      decision,
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      purposes: ['monitoring'],
      dataClasses: ['EpisodeOfCare'],
      period: { start: '2026-01-01' },
    });
  const counts = () => countMonitoring(app.rt.ctx.db, { municipality: MUNICIPALITY, period: Q4 });

  it('counts a trajectory without a monitoring consent as registered but not counted, keeping no child', async () => {
    await send([contactOf(45)]);
    const c = await counts();
    expect(c.inflow.total).toBe(0);
    expect(c.notCounted.total).toBe(1);
    // Its key, practice, municipality and start date: nothing of the child.
    const columns = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'report_uncounted_trajectory' ORDER BY column_name`,
    );
    expect(columns.rows.map((r) => r.column_name)).toEqual([
      'municipality',
      'practice',
      'start_date',
      'trajectory_key',
    ]);
  });

  it('counts the children once beside their trajectories, and the minutes of their contacts as hours', async () => {
    const first = contactOf(45);
    await send([consent(first, 'permit'), first, nextContact(first, 2, 60)]);
    // A second trajectory of the same child.
    const again = {
      ...nextContact(first, 3, 30),
      trajectory: { ...(first.trajectory as object), id: 'second-trajectory', startDate: '2026-11-01' },
    };
    await send([again]);
    const c = await counts();
    expect(c.inflow.total).toBe(2);
    expect(c.active).toMatchObject({ total: 2, children: 1 });
    expect(c.contactTime).toEqual({
      total: 3,
      byDuration: new Map([
        ['with-duration', 3],
        ['without-duration', 0],
      ]),
      minutes: 135,
    });
    expect(c.notCounted.total).toBe(1);
  });

  it('moves the trajectories an objection takes out to the not counted, and back when a consent comes', async () => {
    const objecting = contactOf(30);
    await send([consent(objecting, 'permit'), objecting]);
    expect((await counts()).inflow.total).toBe(3);
    await send([consent(objecting, 'deny')]);
    const after = await counts();
    // Out of the inflow, into the not counted: the registered trajectories stay 4 however consents change.
    expect([after.inflow.total, after.notCounted.total]).toEqual([2, 2]);
    expect(after.contactTime.total).toBe(3);

    // The child without consent at first: a consent, then a contact that counts, takes it out of the not counted.
    const late = contactOf(30);
    await send([late]);
    expect((await counts()).notCounted.total).toBe(3);
    await send([consent(late, 'permit'), nextContact(late, 2, 30)]);
    const c = await counts();
    expect([c.inflow.total, c.notCounted.total]).toEqual([3, 2]);
  });

  it('counts a trajectory that counts once, should a write beside it have left it among the not counted too', async () => {
    const before = await counts();
    // What a denied contact's write racing a permitted one's could leave: the counted trajectory's key in both tables.
    await app.rt.ctx.db.query(
      `INSERT INTO report_uncounted_trajectory (trajectory_key, municipality, practice, start_date)
       SELECT trajectory_key, municipality, practice, start_date FROM report_trajectory
        WHERE municipality = $1 AND start_date BETWEEN '2026-10-01' AND '2026-12-31' LIMIT 1`,
      [MUNICIPALITY],
    );
    const after = await counts();
    expect([after.inflow.total, after.notCounted.total]).toEqual([before.inflow.total, before.notCounted.total]);
  });

  it('gives the new figures in the report, a small one withheld with its score', async () => {
    const res = await app.request('/municipality/v1/monitoring?period=2026-Q4', { key: 'municipality' });
    expect(res.status).toBe(200);
    const report = (await res.json()) as MeasureReport;
    const group = (code: string) => report.group?.find((g) => g.code?.coding?.[0]?.code === code);
    for (const code of ['not-counted', 'children']) {
      expect([code, group(code)?.population?.[0]?.count]).toEqual([code, undefined]);
      expect(group(code)?.population?.[0]?.extension?.[0]?.valueCode).toBe('masked');
    }
    expect(group('not-counted')?.measureScore).toBeUndefined();
    // The contacts are k or more, all with a duration: their hours are shown, rounded to whole hours.
    const c = await counts();
    expect(c.contactTime.total).toBeGreaterThanOrEqual(5);
    expect(group('contact-time')?.population?.[0]?.count).toBe(c.contactTime.total);
    expect(group('contact-time')?.measureScore).toMatchObject({
      value: Math.round(c.contactTime.minutes / 60),
      code: 'h',
    });
  });
});
