import path from 'node:path';
import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildDestination, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { DeliveryReceiver } from '../helpers/delivery-receiver';

// A municipality's status updates on one referral were sent to the practice each on its own: after the practice's
// HIS was away, each retried on its own backoff, and an older update arriving last PATCHed the ServiceRequest back
// (rejected, then `active` again from the earlier `accepted`). A replayed older dead letter did the same.
describe("a referral's status updates reach the practice in the order recorded", () => {
  let municipality: DeliveryReceiver;
  let practice: DeliveryReceiver;
  let app: TestApp;
  const testEnv = createTestEnv();

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    practice = await new DeliveryReceiver().start();
    app = await startTestApp({
      testEnv,
      env: { CONFIG_DIR: path.join(testEnv.dataDir, 'config') },
      registry: buildRegistry({
        agreements: [buildAgreement()],
        destinations: [buildDestination(municipality.url('/fhir'))],
        practices: [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practice.url('/his/fhir') }],
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([municipality.stop(), practice.stop()]);
    await cleanupTestEnv(testEnv);
  });

  beforeEach(() => {
    practice.mode = { kind: 'ok' };
    practice.script = [];
  });

  const db = () => app.rt.ctx.db;

  async function deliveredReferral(): Promise<string> {
    const res = await app.request('/his/v1/events', { json: buildReferralEvent(), key: 'practice' });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor(`event ${id} to be delivered`, async () => {
      const [row] = await db().query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered';
    });
    return id;
  }

  async function postStatus(id: string, body: unknown): Promise<string> {
    const res = await app.request(`/municipality/v1/referrals/${id}/status`, { json: body, key: 'municipality' });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  const feedbackRow = async (id: string) =>
    (
      await db().query<{ state: string; attempts: number; last_error: string | null }>(
        'SELECT state, attempts, last_error FROM feedback WHERE id = $1',
        [id],
      )
    )[0];

  const reaches = (feedbackId: string, state: string) =>
    waitFor(`status update ${feedbackId} to be ${state}`, async () => (await feedbackRow(feedbackId))?.state === state);

  /** The ServiceRequest status each update the practice took PATCHed, in the order it took them. */
  const patchedStatuses = (feedbackIds: readonly string[]): (string | undefined)[] =>
    [...practice.stored.values()]
      .filter((hit) => feedbackIds.some((id) => hit.idempotencyKey === `fb-${id}`))
      .map((hit) => {
        const patch = (hit.body as Bundle).entry?.find((e) => e.request?.method === 'PATCH')?.resource as Parameters;
        return patch.parameter?.[0]?.part?.find((p) => p.name === 'value')?.valueCode;
      });

  it('sends a later update only after the earlier one, when the earlier one is retried longer', async () => {
    const id = await deliveredReferral();
    // The HIS is away: the first update is told to come back in 3 s, the second (if sent) only fails once.
    practice.script = [
      { kind: 'status', status: 503, retryAfter: '3' },
      { kind: 'status', status: 503 },
    ];
    const accepted = await postStatus(id, { status: 'accepted' });
    await waitFor('the first attempt of the accepted update', async () => (await feedbackRow(accepted))!.attempts > 0);
    const rejected = await postStatus(id, { status: 'rejected', reasonCode: 'duplicate' });
    await reaches(accepted, 'delivered');
    await reaches(rejected, 'delivered');

    // Accepted first, rejected last: the practice's ServiceRequest ends revoked, as jeugdbrug's current status says.
    expect(patchedStatuses([accepted, rejected])).toEqual(['active', 'revoked']);
    // Waiting for the earlier update spends none of the later one's attempts.
    expect((await feedbackRow(rejected))?.attempts).toBe(1);
  });

  it('never sets an older status at the practice when its dead letter is replayed after a newer one went', async () => {
    const id = await deliveredReferral();
    // The HIS refuses the first update for good (a dead letter at once), and takes the next.
    practice.script = [{ kind: 'status', status: 400 }];
    const accepted = await postStatus(id, { status: 'accepted' });
    await reaches(accepted, 'dead');
    const rejected = await postStatus(id, { status: 'rejected', reasonCode: 'duplicate' });
    await reaches(rejected, 'delivered');

    const replay = await app.request(`/admin/v1/feedback/${accepted}/replay`, { key: 'operator', method: 'POST' });
    expect(replay.status).toBe(202);
    await reaches(accepted, 'superseded');
    expect((await feedbackRow(accepted))?.last_error).toMatch(/later status update .*rejected.* reached the practice/);
    // Nothing more went to the practice: its ServiceRequest stays revoked.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(practice.hitsFor(`fb-${accepted}`)).toHaveLength(1);
    expect(patchedStatuses([accepted, rejected])).toEqual(['revoked']);
    // The superseded update is no dead letter any more, and listed by its state.
    const listed = (await (await app.request('/admin/v1/feedback?state=superseded', { key: 'operator' })).json()) as {
      feedback: { id: string }[];
    };
    expect(listed.feedback.map((f) => f.id)).toContain(accepted);
  });

  it('does not send an older update found pending after a newer one was delivered (one from an older release)', async () => {
    const id = await deliveredReferral();
    practice.script = [{ kind: 'status', status: 400 }];
    const accepted = await postStatus(id, { status: 'accepted' });
    await reaches(accepted, 'dead');
    const rejected = await postStatus(id, { status: 'rejected', reasonCode: 'duplicate' });
    await reaches(rejected, 'delivered');
    // Made pending again behind the replay's back, as a release without this ordering could leave it.
    const [row] = await db().query<{ round: number }>(
      `UPDATE feedback SET state = 'pending', round = round + 1 WHERE id = $1 RETURNING round`,
      [accepted],
    );
    await app.rt.ctx.queues.enqueueFeedback({ id: accepted, round: row!.round }, 'trace-test');
    await reaches(accepted, 'superseded');
    expect(practice.hitsFor(`fb-${accepted}`)).toHaveLength(1);
    expect(patchedStatuses([accepted, rejected])).toEqual(['revoked']);
  });
});
