import { PRINCIPAL_SYSTEM } from '../../src/audit/audit-events';
import { listReceivedReferrals } from '../../src/reports/referral-timeline/received-referrals';
import { buildReferralEvent, MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { insertInboxRows } from '../helpers/inbox-rows';
import { statementsOf } from '../helpers/recorded-statements';
import { useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The municipality's referrals page: each referral by the identifier the municipality received and uses in its API
 * (the practice's referral id), its statuses in words on their own dates, the waiting days the API's timeline gives,
 * and every referral reachable a page at a time.
 */
describe("the console's referrals page", () => {
  const h = useAppWithReceiver();
  let municipality: ConsoleClient;
  /** The practice's referral ids, oldest first. */
  const referralIds: string[] = [];

  /** Sends referrals in one request (numbered `numbers` when given) and waits until each reached the municipality. */
  async function deliver(n: number, numbers: readonly string[] = []): Promise<void> {
    const events = Array.from({ length: n }, (_, k) => {
      const event = buildReferralEvent();
      const id = numbers[k];
      return id === undefined ? event : { ...event, referral: { ...(event.referral as object), id } };
    });
    const res = await h.app.request('/his/v1/events', { json: events });
    const ids = ((await res.json()) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
    await waitFor(`${n} referrals delivered`, async () => {
      const [row] = await h.app.rt.ctx.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM inbox WHERE id = ANY($1) AND state = 'delivered'`,
        [ids],
      );
      return Number(row?.n) === n;
    });
    referralIds.push(...events.map((e) => (e.referral as { id: string }).id));
  }

  const page = async (pathname = '/console/municipality/referrals') => {
    const res = await municipality.get(pathname);
    expect(res.status).toBe(200);
    return res.text();
  };
  const shownIds = (text: string) => [...text.matchAll(/<strong>(ref-[^<]+)<\/strong>/g)].map((m) => m[1]);
  const nextLink = (text: string) =>
    /<a href="(\/console\/municipality\/referrals\?_page=[^"]+)">Volgende pagina<\/a>/.exec(text)?.[1];

  beforeAll(async () => {
    municipality = await openConsole(h.app, 'municipality');
  });

  it('names a referral by the identifier the municipality received, its statuses in words on their own dates', async () => {
    await deliver(1);
    const ref = referralIds[0] ?? '';
    for (const body of [
      { status: 'accepted', date: '2026-11-23' },
      {
        status: 'decision-issued',
        decision: { number: 'B-1', date: '2026-12-01', productCategory: '45', period: { start: '2026-12-07' } },
      },
    ]) {
      const res = await h.app.request(`/municipality/v1/referrals/${ref}/status`, { json: body, key: 'municipality' });
      expect(res.status).toBe(202);
    }
    const api = (await (
      await h.app.request(`/municipality/v1/referrals/${ref}/status`, { key: 'municipality' })
    ).json()) as { referral: string; timeline: { waitingDays: Record<string, number> } };
    expect(api.timeline.waitingDays).toEqual({ referralToAccepted: 3, acceptedToDecision: 8, referralToDecision: 11 });

    const text = await page();
    const row = /<tr>\s*<td>\s*<strong>ref-[\s\S]*?<\/tr>/.exec(text)?.[0] ?? '';
    expect(row).toContain(`<strong>${ref}</strong><br /><small>urn:agb:01234567:referral</small>`);
    expect(text).not.toContain(api.referral);
    expect(row).toContain('<td>verwijzing</td>');
    expect(row).toContain('<td>20 nov 2026</td>');
    expect(row).toMatch(
      /<time datetime="2026-11-23">23 nov 2026<\/time>\s*<strong>Aangenomen door de gemeente<\/strong>/,
    );
    expect(row).toMatch(/<time datetime="2026-12-01">1 dec 2026<\/time>\s*<strong>Beschikking afgegeven<\/strong>/);
    expect(row).not.toMatch(/>(accepted|decision-issued)</);
    expect(row).toContain('<li>verwijzing → aangenomen: 3 dagen</li>');
    expect(row).toContain('<li>aangenomen → beschikking: 8 dagen</li>');
    expect(row).toContain('<li>verwijzing → beschikking: 11 dagen</li>');
  });

  it('shows every referral a page at a time, newest first, none twice, with a next page link', async () => {
    await deliver(55);
    const first = await page();
    const next = nextLink(first) ?? '';
    expect(next).not.toBe('');
    const second = await page(next.replace(/&amp;/g, '&'));
    expect(nextLink(second)).toBeUndefined();
    expect(second).toContain('<a href="/console/municipality/referrals">Eerste pagina</a>');
    const shown = [...shownIds(first), ...shownIds(second)];
    expect(shownIds(first)).toHaveLength(50);
    expect(new Set(shown).size).toBe(shown.length);
    expect([...shown].sort()).toEqual([...referralIds].sort());
    const newestFirst = await h.app.rt.ctx.db.query<{ value: string }>(
      `SELECT r.value FROM delivery d JOIN referral_identifier r ON r.inbox_id = d.inbox_id
       ORDER BY d.delivered_at DESC, d.id DESC`,
    );
    expect(shown).toEqual(newestFirst.map((r) => r.value));
  });

  it("puts each page's read on record in the chain of every practice it shows, naming the municipality", async () => {
    if (referralIds.length === 0) {
      await deliver(1);
    }
    await page();
    await h.app.rt.ctx.audit.flush();
    const [read] = await h.app.rt.ctx.db.query<{ tenant: string; agents: string[] }>(
      `SELECT tenant, agents FROM audit_event WHERE subtype = 'search-type' AND agents @> ARRAY[$1]
       ORDER BY recorded DESC, seq DESC LIMIT 1`,
      [`${PRINCIPAL_SYSTEM}|api-key:municipality`],
    );
    expect(read?.tenant).toBe(PRACTICE_AGB);
    expect(read?.agents.some((a) => a.endsWith(`|${MUNICIPALITY}`))).toBe(true);
  });

  it('finds a referral by its number or its beginning, and by the days it arrived, across pages', async () => {
    if (referralIds.length < 55) {
      await deliver(55);
    }
    // A number that begins no other: found alone. Its beginning finds each that begins with it.
    const wanted = referralIds.find((id) => referralIds.filter((o) => o.startsWith(id)).length === 1) ?? '';
    const beginning = wanted.slice(0, -1);
    const begun = shownIds(await page(`/console/municipality/referrals?referral=${beginning}`));
    expect(begun).toContain(wanted);
    expect(begun.every((id) => id?.startsWith(beginning))).toBe(true);
    expect(begun).toHaveLength(Math.min(50, referralIds.filter((id) => id.startsWith(beginning)).length));
    const exact = await page(`/console/municipality/referrals?referral=${encodeURIComponent(wanted)}`);
    expect(shownIds(exact)).toEqual([wanted]);
    expect(exact).toContain(`name="referral" autocomplete="off" value="${wanted}"`);
    expect(shownIds(await page(`/console/municipality/referrals?referral=${wanted.toUpperCase()}`))).toEqual([wanted]);
    // The beginning every referral of the test shares: all of them, a page at a time, the search kept on the next.
    const first = await page('/console/municipality/referrals?referral=ref-');
    expect(shownIds(first)).toHaveLength(50);
    const next = /<a href="([^"]+)">Volgende pagina<\/a>/.exec(first)?.[1]?.replace(/&amp;/g, '&') ?? '';
    expect(new URL(next, 'http://x').searchParams.get('referral')).toBe('ref-');
    expect(shownIds(await page(next)).length).toBe(referralIds.length - 50);

    // By the Amsterdam day it arrived, read back from what was stored (no clock in the test).
    const [row] = await h.app.rt.ctx.db.query<{ day: string }>(
      `SELECT to_char(d.delivered_at AT TIME ZONE 'Europe/Amsterdam', 'YYYY-MM-DD') AS day
       FROM delivery d JOIN referral_identifier r ON r.inbox_id = d.inbox_id WHERE r.value = $1`,
      [wanted],
    );
    const day = row?.day ?? '';
    const onDay = `/console/municipality/referrals?referral=${wanted}&from=${day}&to=${day}`;
    expect(shownIds(await page(onDay))).toEqual([wanted]);
    const dayAfter = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    expect(shownIds(await page(`/console/municipality/referrals?referral=${wanted}&from=${dayAfter}`))).toEqual([]);
    // Up to and including the last day a date can be written with four digits (report review: a 500 before).
    expect(shownIds(await page(`/console/municipality/referrals?referral=${wanted}&to=9999-12-31`))).toEqual([wanted]);
  });

  it('says in words what is wrong with the days searched, with 400', async () => {
    for (const [query, said] of [
      ['from=2026-11-30&to=2026-11-01', 'De datum bij ‘Van’ ligt na die bij ‘Tot en met’: zo is er niets te vinden.'],
      ['from=30-11-2026', 'Ontvangen vanaf: geen geldige datum (JJJJ-MM-DD).'],
    ] as const) {
      const res = await municipality.get(`/console/municipality/referrals?${query}`);
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).toContain(said);
      expect(shownIds(text)).toEqual([]);
    }
  });

  // report-xmuni L3: a BSN typed into the number filter (a GET form) was searched, and so put in the address (browser
  // history, proxy logs), where README promises no BSN ever is.
  it('refuses a BSN typed as the referral number, out of the address and unsearched, saying so in words', async () => {
    const bsn = '111222333';
    const res = await municipality.get(`/console/municipality/referrals?referral=${bsn}&from=2026-11-01`);
    expect(res.status).toBe(303);
    const location = res.headers.get('location') ?? '';
    expect(location).not.toContain(bsn);
    expect(new URL(location, 'http://x').searchParams.get('from')).toBe('2026-11-01');
    const refused = await municipality.get(location);
    expect(refused.status).toBe(400);
    const text = await refused.text();
    expect(text).toContain('Verwijzingsnummer: dit lijkt een BSN.');
    expect(text).not.toContain(bsn);
    expect(shownIds(text)).toEqual([]);
    // Before it is sent, too: the field says so in the page's language (console.js).
    expect(text).toMatch(/<input name="referral"[^>]*data-bsn-refusal="Verwijzingsnummer: dit lijkt een BSN\./);
    // Nothing was read, so nothing of it is on record in an audit query either.
    await h.app.rt.ctx.audit.flush();
    const reads = await h.app.rt.ctx.db.query<{ resource: { entity?: { query?: string }[] } }>(
      `SELECT resource::json AS resource FROM audit_event WHERE subtype = 'search-type'`,
    );
    const queries = reads.flatMap((r) =>
      (r.resource.entity ?? []).flatMap((e) => (e.query ? [Buffer.from(e.query, 'base64').toString()] : [])),
    );
    expect(queries.some((q) => q.startsWith('/console/municipality/referrals'))).toBe(true);
    expect(queries.filter((q) => q.includes(bsn))).toEqual([]);
    // Nine digits that fail the 11-proef are a number like any other: searched.
    expect((await municipality.get('/console/municipality/referrals?referral=123456789')).status).toBe(200);
  });

  it('takes a % and an _ in the number searched for as themselves, not as any characters', async () => {
    await deliver(5, ['ref-50%_a', 'ref-50xya', 'ref-5_1', 'ref-501', 'ref-5\\1']);
    const found = async (referral: string) =>
      shownIds(await page(`/console/municipality/referrals?referral=${encodeURIComponent(referral)}`));
    expect(await found('ref-50%')).toEqual(['ref-50%_a']);
    expect(await found('REF-50%_')).toEqual(['ref-50%_a']);
    expect(await found('ref-5_')).toEqual(['ref-5_1']);
    expect(await found('ref-5\\')).toEqual(['ref-5\\1']);
    expect((await found('ref-50')).sort()).toEqual(['ref-50%_a', 'ref-501', 'ref-50xya']);
    expect(await found('ref-%')).toEqual([]);
  });

  it('finds a referral by its number through an index, not by reading every referral and delivery', async () => {
    const db = h.app.rt.ctx.db;
    // Years of referrals to twenty municipalities, each with its number.
    const ids = await insertInboxRows(db, 'delivered', 20_000);
    await db.query(
      `INSERT INTO referral_identifier (inbox_id, tenant, system, value)
       SELECT inbox_id, '01234567', 'urn:agb:01234567:referral', 'REF-' || lpad(n::text, 6, '0')
       FROM unnest($1::uuid[]) WITH ORDINALITY AS x(inbox_id, n)`,
      [ids],
    );
    await db.query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
       SELECT gen_random_uuid(), inbox_id, 'gm' || (n % 20)::text, gen_random_uuid()::text, 'delivered',
         now() - interval '1000 days' + n * interval '1 hour'
       FROM unnest($1::uuid[]) WITH ORDINALITY AS x(inbox_id, n)`,
      [ids],
    );
    await db.exec('ANALYZE inbox; ANALYZE delivery; ANALYZE referral_identifier');
    const statements = await statementsOf(db, async (rec) => {
      const found = await listReceivedReferrals({ ...h.app.rt.ctx, db: rec }, ['gm1'], {
        limit: 50,
        filter: { referral: 'ref-0123' },
      });
      // 012300 to 012399, of which those to gm1: 012301, 012321, … 012381.
      expect(found.referrals.map((r) => r.identifier?.value)).toEqual(
        ['81', '61', '41', '21', '01'].map((n) => `REF-0123${n}`),
      );
    });
    const [list] = statements;
    const plan = (await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${list!.sql}`, list!.params))
      .map((r) => r['QUERY PLAN'])
      .join('\n');
    expect(plan).toMatch(/Index Scan using referral_identifier_value_prefix on referral_identifier/);
    expect(plan).not.toMatch(/Seq Scan on (delivery|referral_identifier)/);
  });

  it('answers a page token it did not make with 400', async () => {
    const res = await municipality.get('/console/municipality/referrals?_page=bm90LWEtdG9rZW4');
    expect(res.status).toBe(400);
  });
});
