import { buildRegistry, type Registry } from '../../src/event/registry';
import { buildAgreement, buildDestination, MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { DeliveryReceiver } from '../helpers/delivery-receiver';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A destination taken out of CONFIG_DIR while deliveries to it waited leaves them pending for good (no queue or worker
// exists for it), which is why start-up, config:check and a metric name them. A practice's HIS endpoint taken out is
// not like that: status updates and trajectory events to every practice share the one `feedback` queue, whose worker
// runs whatever is configured. The one waiting (its retry's backoff) becomes a dead letter at its next attempt, with
// a reason that names the missing endpoint, listed and counted as the practice's other dead letters.
describe('a trajectory event waiting for a practice whose HIS endpoint is taken out of the configuration', () => {
  const testEnv = createTestEnv({
    // Retried long enough to be waiting when the process restarts with the endpoint gone.
    DELIVERY_MAX_ATTEMPTS: '50',
    DELIVERY_BACKOFF_BASE_MS: '300',
    DELIVERY_BACKOFF_MAX_MS: '1000',
  });
  let municipality: DeliveryReceiver;
  let practiceHis: DeliveryReceiver;
  let app: TestApp | undefined;

  const registry = (withEndpoint: boolean): Registry =>
    buildRegistry({
      agreements: [
        buildAgreement({
          professional: { employer: 'social-team', systemOfRecord: 'municipality' },
          toPractice: {
            purpose: 'contact-registration',
            dataClasses: { EpisodeOfCare: { fields: ['identifier', 'status', 'type', 'patient', 'period'] } },
          },
        }),
      ],
      destinations: [buildDestination(municipality.url('/fhir'))],
      practices: withEndpoint
        ? [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practiceHis.url('/his/fhir'), auth: { type: 'none' } }]
        : [],
    });

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    practiceHis = await new DeliveryReceiver().start();
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([municipality.stop(), practiceHis.stop()]);
    await cleanupTestEnv(testEnv);
  });

  const rowOf = async (id: string) =>
    (
      await (app as TestApp).rt.ctx.db.query<{ state: string; attempts: number; last_error: string | null }>(
        'SELECT state, attempts, last_error FROM trajectory_event WHERE id = $1',
        [id],
      )
    )[0];

  it('becomes a dead letter naming the missing endpoint, listed and counted for the practice', async () => {
    app = await startTestApp({ testEnv, registry: registry(true) });
    practiceHis.mode = { kind: 'status', status: 503 };
    const res = await app.request('/municipality/v1/trajectories/events', {
      key: 'municipality',
      json: {
        eventId: 'gm-endpoint-removed-1',
        type: 'intake',
        municipality: MUNICIPALITY,
        practice: { agb: PRACTICE_AGB },
        child: { bsn: '111222333', birthDate: '2013-05-01' },
        trajectory: { id: 'traj-removed', startDate: '2026-10-01' },
        date: '2026-10-01',
        helpQuestion: 'parenting',
      },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    await waitFor('a failed attempt, retried later', async () => {
      const row = await rowOf(id);
      return row && row.state === 'pending' && row.attempts > 0;
    });
    await app.close();

    // Started again with the practice's endpoint taken out of the configuration.
    app = await startTestApp({ testEnv, registry: registry(false) });
    const dead = await waitFor('the waiting event to become a dead letter', async () => {
      const row = await rowOf(id);
      return row?.state === 'dead' ? row : undefined;
    });
    expect(dead.last_error).toBe(`no HIS endpoint configured for practice ${PRACTICE_AGB}`);
    const listed = (await (await app.request('/admin/v1/trajectory-events', { key: 'operator' })).json()) as {
      trajectoryEvents: { id: string; practice: string; lastError: string }[];
    };
    expect(listed.trajectoryEvents).toEqual([
      expect.objectContaining({ id, practice: PRACTICE_AGB, lastError: dead.last_error }),
    ]);
    const metrics = await (await app.request('/metrics', { key: null })).text();
    expect(metrics).toMatch(new RegExp(`^jeugdbrug_dead_letters\\{destination="practice-${PRACTICE_AGB}"\\} 1$`, 'm'));
    // Nothing of it waits unnamed: no pending row is left for the practice.
    const [pending] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM trajectory_event WHERE state = 'pending')
            + (SELECT count(*) FROM feedback WHERE state = 'pending') AS n`,
    );
    expect(Number(pending?.n)).toBe(0);
  });
});
