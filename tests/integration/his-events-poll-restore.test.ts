import { encodePollFrom } from '../../src/reports/practice-events/practice-events';
import { buildReferralEvent } from '../helpers/builders';
import { useTestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface Listing {
  events: { id: string }[];
  pollFrom: string;
}

/**
 * `pollFrom` is a PostgreSQL transaction id. A database restored from a backup (a dump into a new cluster, a
 * point-in-time recovery) hands out transaction ids from lower again, and holds events whose `changed_xid` is from
 * after its present. A HIS polling from a `pollFrom` taken before the restore missed every change since, and every
 * poll answered the restored events as changed. A restore is played here by what it leaves: transaction ids from after
 * the database's present, in a `_pollFrom` and in events' `changed_xid`.
 */
describe('GET /his/v1/events?_pollFrom after the database was restored from a backup', () => {
  const app = useTestApp({ env: { ROLE: 'api' } });

  /** A transaction id this database will not hand out for a long while. */
  async function fromAfterThePresent(): Promise<string> {
    const [row] = await app.rt.ctx.db.query<{ x: string }>(
      `SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text AS x`,
    );
    return row!.x;
  }

  async function poll(pollFrom: string): Promise<Listing> {
    const res = await app.request(`/his/v1/events?_pollFrom=${pollFrom}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Listing;
  }

  async function receive(): Promise<string> {
    const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
    expect(res.status).toBe(202);
    return ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
  }

  it('refuses a pollFrom from after the database’s present, 409 naming _pollFrom and what to do', async () => {
    const res = await app.request(`/his/v1/events?_pollFrom=${encodePollFrom(await fromAfterThePresent())}`);
    expect(res.status).toBe(409);
    const outcome = (await res.json()) as {
      issue: { code: string; expression: string[]; details: { text: string } }[];
    };
    expect(outcome.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: ['_pollFrom'] }));
    expect(outcome.issue[0]!.details.text).toMatch(/restored from a backup.*_since/);
  });

  it('answers a restored event from after the present as changed now, and then no longer', async () => {
    const first = await poll(encodePollFrom('1'));
    const restored = await receive();
    await app.rt.ctx.db.query(`UPDATE inbox SET changed_xid = $2::xid8 WHERE id = $1`, [
      restored,
      await fromAfterThePresent(),
    ]);
    const again = await poll(first.pollFrom);
    expect(again.events.map((e) => e.id)).toContain(restored);
    const [row] = await app.rt.ctx.db.query<{ past: boolean }>(
      'SELECT changed_xid < pg_snapshot_xmax(pg_current_snapshot()) AS past FROM inbox WHERE id = $1',
      [restored],
    );
    expect(row!.past).toBe(true);
    // The polls after it answer it again until their pollFrom passes the poll that moved it (none missed, some
    // possibly again; a pollFrom is held back by any transaction of the server still running), then no longer.
    let from = again.pollFrom;
    await waitFor('a poll that no longer answers the restored event', async () => {
      const answer = await poll(from);
      from = answer.pollFrom;
      return answer.events.some((e) => e.id === restored) ? undefined : true;
    });
    // A change after it is found, as ever.
    const next = await receive();
    expect((await poll(from)).events.map((e) => e.id)).toContain(next);
  });
});
