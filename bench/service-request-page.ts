/**
 * The time of a page of `GET /fhir/ServiceRequest` (searchServiceRequests, without the HTTP layer) for a municipality
 * that received 20,000 referrals over three years: the first page, one in the middle, newest first, each with the
 * default total (`estimate`), `_total=accurate` and `_total=none`. Not part of `npm run bench`; run on its own, on a
 * quiet machine, in a database of your own:
 *
 *   TEST_DATABASE_URL=postgres://… npx tsx bench/service-request-page.ts
 *
 * It makes a schema of its own and drops it at the end. Prints the median of 7 runs of each, in milliseconds.
 */
import { openDb } from '../src/kernel/db';
import { migrate } from '../src/kernel/migrate';
import type { FhirSearch } from '../src/reports/fhir-search/parse-search';
import { searchServiceRequests } from '../src/reports/service-request-search/service-request-search';
import {
  receivedPageToken,
  RECEIVING_PRINCIPAL,
  receivingContext,
  storeReceivedReferrals,
} from '../tests/helpers/received-referrals';

const REFERRALS = 20_000;
const RUNS = 7;

async function main(): Promise<void> {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  if (!databaseUrl) {
    throw new Error('TEST_DATABASE_URL is required');
  }
  const schema = `bench_sr_page_${Date.now().toString(36)}`;
  const db = await openDb({ databaseUrl, schema, poolSize: 2, dataDir: '/tmp' });
  try {
    await migrate(db);
    await storeReceivedReferrals(db, REFERRALS);
    const ctx = receivingContext(db);
    const principal = RECEIVING_PRINCIPAL;
    const page = await receivedPageToken(db, REFERRALS / 2, 'n');
    const search = (more: Partial<FhirSearch>): FhirSearch => ({
      resourceType: 'ServiceRequest',
      filters: [],
      count: 20,
      summaryCount: false,
      total: 'estimate',
      pretty: false,
      applied: new URLSearchParams(),
      ignored: [],
      ...more,
    });
    const timed = async (s: FhirSearch): Promise<number> => {
      const start = process.hrtime.bigint();
      await searchServiceRequests(ctx, principal, s);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    // The first search after the referrals were stored (after migration 085: the one that computes their rows).
    console.log(`first search: ${(await timed(search({}))).toFixed(1)} ms`);
    const cases: [string, Partial<FhirSearch>][] = [
      ['first page', {}],
      ['middle page', { page }],
      ['newest first', { sort: { code: '_lastUpdated', descending: true } }],
      ['status=active, middle', { page, filters: [{ code: 'status', operator: 'eq', value: 'active' }] }],
    ];
    for (const [name, more] of cases) {
      for (const total of ['estimate', 'accurate', 'none'] as const) {
        const times: number[] = [];
        for (let n = 0; n < RUNS; n++) {
          times.push(await timed(search({ ...more, total })));
        }
        times.sort((a, b) => a - b);
        console.log(`${name}, _total=${total}: ${times[Math.floor(RUNS / 2)]!.toFixed(1)} ms`);
      }
    }
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  }
}

void main();
