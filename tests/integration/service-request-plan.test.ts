import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import type { FhirSearch } from '../../src/reports/fhir-search/parse-search';
import {
  searchServiceRequests,
  serviceRequestProvider,
} from '../../src/reports/service-request-search/service-request-search';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';
import { plansOf } from '../helpers/query-plans';
import {
  RECEIVED_SYSTEM,
  receivedPageToken,
  receivedSearch,
  RECEIVING_PRINCIPAL,
  receivingContext,
  storeReceivedReferrals,
} from '../helpers/received-referrals';

/**
 * `GET /fhir/ServiceRequest/{id}` and a search by `identifier` built every referral the municipality ever received
 * (one per referral, DISTINCT ON) and then kept the one asked for: a read cost as much as the whole list. They read
 * the deliveries of the referral named, through the indexes of `referral_identifier`.
 *
 * Without `identifier`, each page and its total built every referral the municipality ever received (20,000 here).
 * A page is now a range of the index of `received_service_request` (migration 085), in either direction and sort
 * order, filtered by status and `_lastUpdated`, and the total counts its entries without rebuilding a referral.
 */
/** `_tag` of the consent-withdrawn tag, which none of the referrals here carries. */
const WITHDRAWN = 'https://jeugdbrug.nl/fhir/CodeSystem/referral-tag|consent-withdrawn';

describe('a read or a search of received referrals reads what it serves, not every referral received', () => {
  let db: Db;
  const schema = `t_sr_plan_${Date.now().toString(36)}`;
  const system = RECEIVED_SYSTEM;
  const ctx = (destinations = ['gm1']) => receivingContext(db, destinations);
  const principal = RECEIVING_PRINCIPAL;
  const search = (filters: FhirSearch['filters']) => receivedSearch(filters);

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '/tmp' });
    await migrate(db);
    // Twenty thousand referrals received by one municipality, over three years.
    await storeReceivedReferrals(db, 20_000);
    // A hundred of them delivered to a second destination of the municipality too.
    await db.query(`INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
      SELECT gen_random_uuid(), id, 'gm1b', gen_random_uuid()::text, 'delivered', now() FROM inbox LIMIT 100`);
    await db.exec('ANALYZE delivery');
  });

  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });

  const expectOneReferralRead = (plan: string | undefined) => {
    expect(plan).toBeDefined();
    expect(plan).not.toContain('Seq Scan on delivery');
    // No step of it reads a thousand rows or more (the municipality's 20,000 deliveries).
    expect(plan).not.toMatch(/ rows=\d{4,} /);
  };

  it('reads one by its ServiceRequest id', async () => {
    const [{ id }] = (await db.query<{ id: string }>(
      `SELECT service_request_id AS id FROM referral_identifier WHERE value = 'ref-sr-17'`,
    )) as [{ id: string }];
    const plans = await plansOf(db, () => serviceRequestProvider(ctx()).tryRead(principal, id), { analyze: true });
    expectOneReferralRead(plans[0]);
  });

  it('searches by identifier, as system|value or the value alone, the page and its total', async () => {
    for (const value of [`${system}|ref-sr-17`, 'ref-sr-17']) {
      const plans = await plansOf(
        db,
        () => searchServiceRequests(ctx(), principal, search([{ code: 'identifier', operator: 'eq', value }])),
        { analyze: true },
      );
      expect(plans.length).toBeGreaterThanOrEqual(2);
      plans.forEach(expectOneReferralRead);
    }
  });

  const expectIndexRange = (plan: string | undefined) => {
    expect(plan).toBeDefined();
    // No step of it reads a thousand rows or more (nor passes over them, filtering them out), and no table is read
    // whole.
    expect(plan).not.toMatch(/ rows=\d{4,} /);
    expect(plan).not.toMatch(/Rows Removed by Filter: \d{4,}/);
    expect(plan).not.toContain('Seq Scan');
  };

  it('reads a page without identifier from an index: the first, a later one, back, newest first, by status, identifier=<system>|, _tag and _lastUpdated', async () => {
    // Anything changed since the last search is brought up to date by the next one; this one counts only.
    await searchServiceRequests(ctx(), principal, { ...search([]), count: 0 });
    const middle = await receivedPageToken(db, 10_000, 'n');
    const back = await receivedPageToken(db, 10_000, 'p');
    const cases: [string, FhirSearch][] = [
      ['the first page', { ...search([]), total: 'none' }],
      ['a page in the middle', { ...search([]), total: 'none', page: middle }],
      ['a previous page', { ...search([]), total: 'none', page: back }],
      ['newest first', { ...search([]), total: 'none', sort: { code: '_lastUpdated', descending: true } }],
      [
        'newest first, a page in the middle',
        { ...search([]), total: 'none', sort: { code: '_lastUpdated', descending: true }, page: middle },
      ],
      [
        'by status',
        { ...search([{ code: 'status', operator: 'eq', value: 'active,revoked' }]), total: 'none', page: middle },
      ],
      [
        'by identifier=<system>| beside a referral’s identifier',
        {
          ...search([{ code: 'identifier', operator: 'eq', value: `${system}|,${system}|ref-sr-17` }]),
          total: 'none',
          page: middle,
        },
      ],
      ['by _tag', { ...search([{ code: '_tag', operator: 'eq', value: WITHDRAWN }]), total: 'none', page: middle }],
      [
        'by _tag, newest first',
        {
          ...search([{ code: '_tag', operator: 'eq', value: WITHDRAWN }]),
          total: 'none',
          sort: { code: '_lastUpdated', descending: true },
        },
      ],
      [
        'by _lastUpdated',
        { ...search([{ code: '_lastUpdated', operator: 'ge', value: '2020-01-01' }]), total: 'none', page: middle },
      ],
    ];
    for (const [name, s] of cases) {
      const plans = await plansOf(db, () => searchServiceRequests(ctx(), principal, s), { analyze: true });
      const page = plans.find((p) => p.includes('Limit'));
      expect([name, page]).toEqual([name, expect.any(String)]);
      expectIndexRange(page);
    }
  });

  it('reads a page of a municipality with two destinations from the index, each referral once', async () => {
    const plans = await plansOf(
      db,
      () => searchServiceRequests(ctx(['gm1', 'gm1b']), principal, { ...search([]), total: 'none' }),
      { analyze: true },
    );
    expectIndexRange(plans.find((p) => p.includes('Limit')));
  });

  it('counts the total from the index, without building a referral (_total=accurate, the default estimate, by _tag)', async () => {
    await searchServiceRequests(ctx(), principal, { ...search([]), count: 0 });
    const tagged = search([{ code: '_tag', operator: 'eq', value: WITHDRAWN }]);
    for (const s of [{ ...search([]), total: 'accurate' }, { ...search([]), total: 'estimate' }, tagged] as const) {
      const plans = await plansOf(db, () => searchServiceRequests(ctx(), principal, s), { analyze: true });
      const count = plans.find((p) => p.includes('Aggregate'));
      expect(count).toBeDefined();
      // Neither deliveries nor events nor statuses are read: the index's entries are counted.
      expect(count).not.toMatch(/ on (delivery|inbox|feedback|referral_identifier)\b/);
      expect(count).not.toMatch(/Rows Removed by Filter: \d{4,}/);
      expect(count).not.toContain('Seq Scan');
    }
  });

  it('serves a change written after a search, by any writer (the triggers mark it): a redelivery moves it to the top', async () => {
    const newest = async () =>
      (
        await searchServiceRequests(ctx(), principal, {
          ...search([]),
          count: 1,
          sort: { code: '_lastUpdated', descending: true },
        })
      ).resources[0]?.identifier?.[0]?.value;
    expect(await newest()).not.toBe('ref-sr-7');
    // As a redelivery of an older build running beside would write it: SQL, not this build's code.
    await db.query(`UPDATE delivery SET delivered_at = now() + interval '1 day'
      WHERE destination = 'gm1' AND inbox_id = (SELECT inbox_id FROM referral_identifier WHERE value = 'ref-sr-7')`);
    expect(await newest()).toBe('ref-sr-7');
  });
});
