import { type ConsoleClient, useConsoleApp } from '../helpers/console-client';
import { insertDeadLetters, insertInboxRows } from '../helpers/inbox-rows';
import { statementsOf } from '../helpers/recorded-statements';
import { OTHER_PRACTICE_AGB } from '../helpers/builders';
import { listPracticeEvents } from '../../src/reports/practice-events/practice-events';
import { pageDeadLetters } from '../../src/reports/dead-letters/dead-letters';

// The practice's events and the operator's dead letters are lists without end: they once stopped at 200 rows,
// unsaid. They page by keyset (newest first, "older" and "newer" links), each page read through an index.
describe("the console's long lists page by keyset, through an index", () => {
  const h = useConsoleApp(['practice', 'operator']);
  const c = h.consoles;

  const db = () => h.app.rt.ctx.db;
  const text = async (client: ConsoleClient, pathname: string) => {
    const res = await client.get(pathname);
    expect(res.status).toBe(200);
    return res.text();
  };
  /** The address of the page's link to its `rel` neighbour, if it has one. */
  const linkOf = (page: string, rel: 'next' | 'prev') =>
    new RegExp(`<a href="([^"]+)" rel="${rel}"`).exec(page)?.[1]?.replace(/&amp;/g, '&');

  /** Follows one kind of link from `first` to the end: each page's rows (by `rowsOf`), in the order visited. */
  const walk = async (
    client: ConsoleClient,
    first: string,
    rel: 'next' | 'prev',
    rowsOf: (page: string) => string[],
  ) => {
    const pages: string[][] = [];
    let at: string | undefined = first;
    let last = '';
    while (at !== undefined && pages.length < 20) {
      last = await text(client, at);
      pages.push(rowsOf(last));
      at = linkOf(last, rel);
    }
    return { pages, last };
  };

  it("shows all of a practice's events a page at a time, older and back to newer", async () => {
    // One statement: all 250 share one received_at, so only the id orders them within it.
    const ids = await insertInboxRows(db(), 'denied', 250);
    const eventsOf = (page: string) =>
      [...page.matchAll(/href="\/console\/practice\/events\/([0-9a-f-]{36})"/g)].map((m) => m[1] ?? '');

    const forward = await walk(c.practice, '/console/practice', 'next', eventsOf);
    expect(forward.pages.map((p) => p.length)).toEqual([100, 100, 50]);
    expect(new Set(forward.pages.flat())).toEqual(new Set(ids));
    expect(forward.last).toContain('Nieuwste eerst, 100 per pagina.');

    // Back from the last page by the "newer" links: the same pages, in reverse.
    const back = await walk(c.practice, linkOf(forward.last, 'prev') ?? '', 'prev', eventsOf);
    expect(back.pages).toEqual(forward.pages.slice(0, 2).reverse());
  });

  it('keeps the state filter while paging', async () => {
    await insertInboxRows(db(), 'dead', 3);
    const first = await text(c.practice, '/console/practice?state=denied');
    const older = linkOf(first, 'next') ?? '';
    expect(older).toMatch(/^\/console\/practice\?state=denied&_page=/);
    expect(await text(c.practice, '/console/practice?state=dead')).not.toContain('rel="next"');
  });

  it('shows all dead letters a page at a time and says how many match', async () => {
    const ids = await insertDeadLetters(db(), 'gm0999', 150);
    const deadOf = (page: string) =>
      [...page.matchAll(/action="\/console\/operator\/dead-letters\/([0-9a-f-]{36})\/replay"/g)].map((m) => m[1] ?? '');
    const forward = await walk(c.operator, '/console/operator/dead-letters?destination=gm0999', 'next', deadOf);
    expect(forward.pages.flat()).toEqual([...ids].reverse());
    expect(forward.pages.map((p) => p.length)).toEqual([100, 50]);
    expect(await text(c.operator, '/console/operator/dead-letters?destination=gm0999')).toContain(
      '100 van de 150 getoond, nieuwste eerst',
    );
  });

  it('refuses a page token it did not make', async () => {
    const res = await c.practice.get('/console/practice?_page=bm90LWEtdG9rZW4');
    expect(res.status).toBe(400);
  });

  it('reads a page of one practice through its index, and dead letters through theirs', async () => {
    // Thousands of events of this practice and many more of another, so that reading them all would show in the plan.
    await insertInboxRows(db(), 'denied', 2000);
    await db().query(
      `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id)
       SELECT gen_random_uuid(), $1, 'other-' || n, 'generic-json', 'referral.created', 'delivered', 't'
       FROM generate_series(1, 20000) AS n`,
      [OTHER_PRACTICE_AGB],
    );
    // Their deliveries, delivered, beside a few hundred dead letters.
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
       SELECT gen_random_uuid(), id, 'gm0999', gen_random_uuid()::text, 'delivered' FROM inbox WHERE tenant = $1`,
      [OTHER_PRACTICE_AGB],
    );
    await insertDeadLetters(db(), 'gm0999', 300);
    await db().exec('ANALYZE inbox; ANALYZE delivery');
    const first = await listPracticeEvents(db(), ['01234567'], { size: 100 });
    const statements = await statementsOf(db(), async (rec) => {
      await listPracticeEvents(rec, ['01234567'], { size: 100, cursor: first.older });
      await listPracticeEvents(rec, ['01234567'], { state: 'denied', size: 100, cursor: first.older });
      await pageDeadLetters(rec, { destination: 'gm0999' }, undefined, 100);
    });
    const plans: string[] = [];
    for (const { sql, params } of statements) {
      const rows = await db().query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
      plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
    expect(plans[0]).toMatch(/Index Scan Backward using inbox_practice_received/);
    expect(plans[0]).not.toMatch(/Sort/);
    // In one state: this index, or the one of that state's events (inbox_denied), whichever reads less.
    expect(plans[1]).toMatch(/ on (inbox_practice_received|inbox_denied)|using (inbox_practice_received|inbox_denied)/);
    expect(plans[2]).toMatch(/delivery_dead/);
    expect(plans.join('\n')).not.toMatch(/Seq Scan on (inbox|delivery)/);
  });
});
