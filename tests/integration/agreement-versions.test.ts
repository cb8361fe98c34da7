import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildDestination, buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

describe('agreements by version through the API', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    // Were v2 or v3 used, the referral would be denied: neither covers referrals.
    const agreements = [
      buildAgreement({ version: 1 }),
      buildAgreement({ version: 2, status: 'draft', purposes: ['monitoring'] }),
      buildAgreement({ version: 3, validFrom: '2099-01-01', purposes: ['monitoring'] }),
    ];
    app = await startTestApp({
      registry: buildRegistry({ agreements, destinations: [buildDestination(receiver.url)] }),
    });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  it('decides under the active v1 beside a draft v2 and a future v3, and says so', async () => {
    const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    const done = await waitFor('the referral to be delivered', async () => {
      const v = (await (await app.request(`/his/v1/events/${id}`)).json()) as {
        state: string;
        history: { state: string; reason: string | null }[];
      };
      return v.state === 'delivered' ? v : undefined;
    });
    expect(done.history.find((h) => h.state === 'decided')?.reason).toContain('Agreement test-agreement v1');
    const explained = await app.request('/policy/v1/$explain', { key: 'auditor', json: { eventId: id } });
    const body = (await explained.json()) as { decision: { effect: string; agreement: unknown } };
    expect(body.decision).toMatchObject({ effect: 'permit', agreement: { id: 'test-agreement', version: 1 } });
  });

  it('lists every loaded version to operators', async () => {
    const res = await app.request('/admin/v1/agreements', { key: 'operator' });
    const body = (await res.json()) as { agreements: { id: string; version: number; status: string }[] };
    expect(body.agreements.map((a) => [a.id, a.version, a.status])).toEqual([
      ['test-agreement', 1, 'active'],
      ['test-agreement', 2, 'draft'],
      ['test-agreement', 3, 'active'],
    ]);
  });
});
