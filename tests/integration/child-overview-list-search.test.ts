import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface Access {
  action: string;
  auditEvent: string;
  what: string[];
}

// report-xprivacy M4: a municipality's list search (`GET /fhir/ServiceRequest`) returned a child's referral, and the
// search was recorded naming the referral's `inbox/<id>` but no child, so the child's overview (AVG art. 15) left it
// out while a read of the same referral by id was in it. NEN 7513: every access to a child's data is in its overview.
describe("the child's overview lists list searches that returned the child's data", () => {
  let receiver: TestReceiver;
  let app: TestApp;
  const children: { bsn: string; event: string }[] = [];

  /** Submits a referral and waits for its delivery; its inbox id. */
  async function submitDelivered(event: Record<string, unknown>): Promise<string> {
    const res = await app.request('/his/v1/events', { json: event });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered' ? true : undefined;
    });
    return id;
  }

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
    for (let i = 0; i < 2; i++) {
      const event = buildReferralEvent();
      children.push({ bsn: (event.child as { bsn: string }).bsn, event: await submitDelivered(event) });
    }
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const accessesOf = async (bsn: string): Promise<Access[]> => {
    await app.rt.ctx.audit.flush();
    const res = await app.request('/audit/v1/overview', { key: 'auditor', method: 'POST', json: { patient: bsn } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { accesses: Access[] }).accesses;
  };

  it("lists the municipality's GET /fhir/ServiceRequest in each returned child's overview, not in others'", async () => {
    const res = await app.request('/fhir/ServiceRequest?_count=50', { key: 'municipality' });
    expect(res.status).toBe(200);
    await app.rt.ctx.audit.flush();
    const [a, b] = children as [(typeof children)[0], (typeof children)[0]];
    const searchesOf = (accesses: Access[]) =>
      accesses.filter((x) => x.action === 'search-type' && x.what.includes(`inbox/${a.event}`));
    const ofA = searchesOf(await accessesOf(a.bsn));
    expect(ofA).toHaveLength(1);
    // The same search returned B's referral: it is in B's overview too.
    const ofB = (await accessesOf(b.bsn)).filter((x) => x.auditEvent === ofA[0]!.auditEvent);
    expect(ofB).toHaveLength(1);
  });

  it("leaves out a search that did not return the child's data", async () => {
    // Recorded before C's referral existed: it returned A's and B's, never C's.
    const [a] = children as [(typeof children)[0]];
    const searchOfA = (await accessesOf(a.bsn)).find((x) => x.action === 'search-type');
    expect(searchOfA).toBeDefined();
    const event = buildReferralEvent();
    await submitDelivered(event);
    const ofC = await accessesOf((event.child as { bsn: string }).bsn);
    expect(ofC.map((x) => x.auditEvent)).not.toContain(searchOfA!.auditEvent);
  });
});
