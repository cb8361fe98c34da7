import { buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// task objflag 2: the practice's events list opened (decrypted) every consent event on the page to tell an objection
// from a consent: a statement, then one decryption per row. Whether a consent event records an objection is now kept
// at receipt (migration 084, `inbox.records_objection`); only rows an older build received (NULL) are opened.
describe("the practice's events list marks objections without opening the consent events", () => {
  const h = useDeliveryApp({ destination: (r) => contractDestination(r.url('/fhir'), {}) });
  let practice: ConsoleClient;
  const objections: string[] = [];
  const consents: string[] = [];

  beforeAll(async () => {
    practice = await openConsole(h.app, 'practice');
    for (let i = 0; i < 6; i++) {
      const referral = buildReferralEvent();
      const event = buildConsentEvent(referral, {
        decision: i % 2 === 0 ? 'deny' : 'permit',
        givenBy: [{ kind: 'child' }],
      });
      const id = await h.submit(event);
      await h.reachesState(id, 'completed');
      (i % 2 === 0 ? objections : consents).push(id);
    }
  });

  afterEach(() => jest.restoreAllMocks());

  const rowOf = (list: string, id: string) =>
    new RegExp(`<tr class="state-[a-z]+">(?:(?!</tr>)[\\s\\S])*?/console/practice/events/${id}"[\\s\\S]*?</tr>`).exec(
      list,
    )?.[0] ?? '';

  /** The list page, and how many times the product decrypted anything while it answered. */
  async function listCountingDecryptions(): Promise<{ list: string; decryptions: number }> {
    const decrypt = jest.spyOn(h.app.rt.ctx.cipher, 'decrypt');
    const list = await (await practice.get('/console/practice')).text();
    return { list, decryptions: decrypt.mock.calls.length };
  }

  it('lists each objection as one and each consent as a consent, decrypting none of them', async () => {
    const { list, decryptions } = await listCountingDecryptions();
    for (const id of objections) {
      expect(rowOf(list, id)).toContain('<td>consent.recorded (bezwaar)</td>');
    }
    for (const id of consents) {
      expect(rowOf(list, id)).toContain('<td>consent.recorded</td>');
    }
    expect(decryptions).toBe(0);
  });

  it('stores at receipt whether a consent event records an objection', async () => {
    const rows = await h.app.rt.ctx.db.query<{ id: string; records_objection: boolean | null }>(
      'SELECT id, records_objection FROM inbox WHERE id = ANY($1::uuid[])',
      [[...objections, ...consents]],
    );
    expect(new Map(rows.map((r) => [r.id, r.records_objection]))).toEqual(
      new Map<string, boolean>([
        ...objections.map((id): [string, boolean] => [id, true]),
        ...consents.map((id): [string, boolean] => [id, false]),
      ]),
    );
  });

  it('opens only the consent events an older build received (no mark), and still tells their objections', async () => {
    // As a build before 084 running beside it stores them: the column left NULL.
    const [older] = objections;
    await h.app.rt.ctx.db.query('UPDATE inbox SET records_objection = NULL WHERE id = $1', [older]);
    const { list, decryptions } = await listCountingDecryptions();
    expect(rowOf(list, older!)).toContain('<td>consent.recorded (bezwaar)</td>');
    expect(decryptions).toBe(1);
  });
});
