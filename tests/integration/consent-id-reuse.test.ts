import { buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { holdAfterInTransaction } from '../helpers/held-statements';
import { useTestApp } from '../helpers/test-runtime';

/**
 * A consent id is the practice's name for one child's consent: recorded again for another child, the registry merged
 * it into the first child's (keeping that child), told the practice it was recorded, and left the second child
 * without a consent. It is refused, naming the consent's id, and the first child's consent stays as it was.
 */
describe('a consent id the practice used for another child', () => {
  const app = useTestApp({ env: { ROLE: 'api' } });

  interface Outcome {
    issue: { code: string; expression: string[]; details: { text: string } }[];
  }
  interface Receipts {
    receipts: { status: string; outcome?: Outcome }[];
  }

  const post = (json: unknown) => app.request('/his/v1/events', { json });
  const childOf = (event: Record<string, unknown>) => (event.child as { bsn: string }).bsn;
  const consentIdOf = (event: Record<string, unknown>) => (event.consent as { id: string }).id;

  async function storedConsents(bsn: string): Promise<{ id: string; status: string; resource: unknown }[]> {
    return app.rt.ctx.db.query('SELECT id, status, resource FROM consent WHERE patient_bsn = $1 ORDER BY id', [bsn]);
  }

  function expectConsentIdConflict(outcome: Outcome | undefined, expression: string): void {
    expect(outcome?.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: [expression] }));
    expect(outcome?.issue[0]!.details.text).toContain('for another child');
  }

  it('refuses it in a later request, and the first child keeps its consent as it was', async () => {
    const first = buildConsentEvent(buildReferralEvent(), { givenBy: [{ kind: 'child' }] });
    expect((await post(first)).status).toBe(202);
    const before = await storedConsents(childOf(first));
    expect(before).toHaveLength(1);

    const other = buildConsentEvent(buildReferralEvent(), {
      id: consentIdOf(first),
      decision: 'deny',
      givenBy: [{ kind: 'child' }],
    });
    expect(childOf(other)).not.toBe(childOf(first));
    const res = await post(other);
    expect(res.status).toBe(409);
    expectConsentIdConflict((await res.json()) as Outcome, 'consent.id');

    expect(await storedConsents(childOf(first))).toEqual(before);
    expect(await storedConsents(childOf(other))).toEqual([]);
    const [stored] = await app.rt.ctx.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM inbox WHERE source_event_id = $1',
      [other.eventId],
    );
    expect(stored!.n).toBe('0');
  });

  it('refuses the second of two children under one consent id in one request, and records the first', async () => {
    const first = buildConsentEvent(buildReferralEvent(), { givenBy: [{ kind: 'child' }] });
    const second = buildConsentEvent(buildReferralEvent(), { id: consentIdOf(first), givenBy: [{ kind: 'child' }] });
    const res = await post([first, second]);
    const { receipts } = (await res.json()) as Receipts;
    expect(receipts.map((r) => r.status)).toEqual(['accepted', 'rejected']);
    expectConsentIdConflict(receipts[1]!.outcome, '[1].consent.id');
    expect(await storedConsents(childOf(first))).toHaveLength(1);
    expect(await storedConsents(childOf(second))).toEqual([]);
  });

  it('refuses it when the other child’s consent is stored while this request is past its check', async () => {
    // The first request's transaction is held after it wrote its consent, before it commits.
    const held = holdAfterInTransaction(app.rt.ctx.db, 'INSERT INTO consent');
    try {
      const first = buildConsentEvent(buildReferralEvent(), { givenBy: [{ kind: 'child' }] });
      const other = buildConsentEvent(buildReferralEvent(), {
        id: consentIdOf(first),
        decision: 'deny',
        givenBy: [{ kind: 'child' }],
      });
      const firstAnswer = post(first);
      await held.reached;
      // The other child's request checks the id (not yet committed, so unused) and waits for its key...
      const otherAnswer = post(other);
      await new Promise((r) => setTimeout(r, 300));
      // ...which the first request then commits.
      held.release();
      expect((await firstAnswer).status).toBe(202);
      const res = await otherAnswer;
      expect(res.status).toBe(409);
      expectConsentIdConflict((await res.json()) as Outcome, 'consent.id');
      const [consent] = await storedConsents(childOf(first));
      expect(consent!.status).toBe('active');
      expect(await storedConsents(childOf(other))).toEqual([]);
    } finally {
      held.restore();
    }
  });
});
