import type { Bundle, Task } from '@medplum/fhirtypes';
import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// The municipality's free-text reason on a status update may name the child: it is stored encrypted like a payload,
// and read back only by the municipality that wrote it and the practice it is for. Operators and auditors see that a
// reason was given (data-absent-reason `masked`), never its text.
describe('who reads a status update’s free-text reason', () => {
  const REASON = 'Jan de Vries 123456782 staat al op de wachtlijst';
  const MASKED = {
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' }],
  };
  let receiver: TestReceiver;
  let app: TestApp;
  let referralValue = '';
  let taskId = '';

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    const referral = buildReferralEvent();
    referralValue = (referral.referral as { id: string }).id;
    const res = await app.request('/his/v1/events', { json: referral });
    const eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [eventId]);
      return row?.state === 'delivered' ? true : undefined;
    });
    const posted = await app.request(`/municipality/v1/referrals/${encodeURIComponent(referralValue)}/status`, {
      key: 'municipality',
      json: { status: 'rejected', reasonCode: 'other', reason: REASON },
    });
    expect(posted.status).toBe(202);
    const view = (await posted.json()) as { id: string; task: Task };
    expect(view.task.statusReason?.text).toBe(REASON);
    taskId = view.id;
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const taskRead = async (key: KeyName): Promise<Task> => {
    const res = await app.request(`/fhir/Task/${taskId}`, { key });
    expect(res.status).toBe(200);
    return (await res.json()) as Task;
  };
  const taskSearch = async (key: KeyName): Promise<Task[]> => {
    const res = await app.request(`/fhir/Task?focus:identifier=${encodeURIComponent(referralValue)}`, { key });
    expect(res.status).toBe(200);
    return ((await res.json()) as Bundle<Task>).entry!.map((e) => e.resource!);
  };
  const statusRoute = async (key: KeyName): Promise<Task[]> => {
    const res = await app.request(`/municipality/v1/referrals/${encodeURIComponent(referralValue)}/status`, { key });
    expect(res.status).toBe(200);
    return ((await res.json()) as { statusUpdates: { task: Task }[] }).statusUpdates.map((u) => u.task);
  };

  it.each<KeyName>(['municipality', 'practice'])('shows the %s the text', async (key) => {
    expect((await taskRead(key)).statusReason?.text).toBe(REASON);
    expect((await taskSearch(key)).map((t) => t.statusReason?.text)).toEqual([REASON]);
  });

  it('shows the municipality the text on the status route', async () => {
    expect((await statusRoute('municipality')).map((t) => t.statusReason?.text)).toEqual([REASON]);
  });

  it.each<KeyName>(['operator', 'auditor'])('shows the %s that a reason was given, not its text', async (key) => {
    for (const task of [await taskRead(key), ...(await taskSearch(key))]) {
      expect(JSON.stringify(task)).not.toContain('123456782');
      expect(task.statusReason).toEqual(expect.objectContaining({ _text: MASKED }));
      expect(task.statusReason?.text).toBeUndefined();
      // The codes stay: they are the summary.
      expect(task.statusReason?.coding?.length).toBeGreaterThan(0);
    }
  });

  it('shows an operator the codes on the status route, not the text', async () => {
    const [task] = await statusRoute('operator');
    expect(JSON.stringify(task)).not.toContain('123456782');
    expect(task!.statusReason).toEqual(expect.objectContaining({ _text: MASKED }));
  });
});
