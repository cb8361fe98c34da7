import type { ServiceRequest } from '@medplum/fhirtypes';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import type { FhirSearch } from '../../src/reports/fhir-search/parse-search';
import type { SearchPage } from '../../src/reports/fhir-search/resource-provider';
import {
  searchServiceRequests,
  serviceRequestProvider,
} from '../../src/reports/service-request-search/service-request-search';
import { plansOf } from '../helpers/query-plans';
import { RECEIVED_SYSTEM, receivedSearch, RECEIVING_PRINCIPAL, receivingContext } from '../helpers/received-referrals';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * `GET /fhir/ServiceRequest` answers from two places: a search whose `identifier` names referrals computes them from
 * their deliveries (`receivedSql`), any other reads the table of migration 085. Both must serve the same version of
 * each referral with the same status and last change, and for a municipality with two destinations that version is
 * the newest the municipality received, at either of them.
 */
describe('the version of a received referral GET /fhir/ServiceRequest serves', () => {
  let db: Db;
  const schema = `t_sr_version_${Date.now().toString(36)}`;
  const system = RECEIVED_SYSTEM;
  const ctx = (destinations: readonly string[]) => receivingContext(db, destinations);
  const principal = RECEIVING_PRINCIPAL;
  const search = (filters: FhirSearch['filters'], count = 50) => receivedSearch(filters, count);
  const identifier = (value: string): FhirSearch['filters'] => [{ code: 'identifier', operator: 'eq', value }];
  /** What a page serves of each referral: its resource and the event (version) it was built from. */
  const served = (page: SearchPage<ServiceRequest>) =>
    page.resources.map((r, n) => ({ resource: r, version: page.related?.[n] }));
  const ids: Record<string, string> = {};
  const versions: Record<string, string> = {};

  /** A version of referral `value` received now (after every one stored before), and its ServiceRequest id. */
  async function receive(value: string, version: string): Promise<void> {
    const [row] = await db.query<{ id: string }>(
      `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload)
       VALUES (gen_random_uuid(), '01234567', $1, 'generic-json', 'referral.created', 'delivered', 't', '\\x00')
       RETURNING id`,
      [`${value}-${version}`],
    );
    versions[`${value}@${version}`] = row!.id;
    ids[value] ??= (await db.query<{ id: string }>('SELECT gen_random_uuid() AS id'))[0]!.id;
    await db.query(
      `INSERT INTO referral_identifier (inbox_id, tenant, system, value, service_request_id)
       VALUES ($1, '01234567', $2, $3, $4)`,
      [row!.id, system, value, ids[value]],
    );
  }

  async function deliver(value: string, version: string, destination: string, at: string): Promise<void> {
    await db.query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
       VALUES (gen_random_uuid(), $1, $2, gen_random_uuid()::text, 'delivered', $3)`,
      [versions[`${value}@${version}`], destination, at],
    );
  }

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '/tmp' });
    await migrate(db);
    // ref-a: sent to both destinations of the municipality; the practice's correction went to gm1b only, and after
    // it the first version was delivered again to gm1 (a redelivery an operator asked for).
    await receive('ref-a', 'v1');
    await deliver('ref-a', 'v1', 'gm1', '2026-01-01T10:00:00Z');
    await deliver('ref-a', 'v1', 'gm1b', '2026-01-01T10:00:00Z');
    await receive('ref-a', 'v2');
    await deliver('ref-a', 'v2', 'gm1b', '2026-01-02T10:00:00Z');
    await db.query(
      `UPDATE delivery SET delivered_at = '2026-01-03T10:00:00Z' WHERE inbox_id = $1 AND destination = 'gm1'`,
      [versions['ref-a@v1']],
    );
    // ref-b: one version, delivered to both; the later delivery is the one served.
    await receive('ref-b', 'v1');
    await deliver('ref-b', 'v1', 'gm1', '2026-01-01T11:00:00Z');
    await deliver('ref-b', 'v1', 'gm1b', '2026-01-04T11:00:00Z');
    // ref-c: at gm1 only.
    await receive('ref-c', 'v1');
    await deliver('ref-c', 'v1', 'gm1', '2026-01-05T11:00:00Z');
  });

  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });

  const both = ['gm1', 'gm1b'];

  it('serves the newest version the municipality received, not an older one redelivered to its other destination', async () => {
    const expected = {
      resource: expect.objectContaining({ id: ids['ref-a'] }),
      version: `inbox/${versions['ref-a@v2']}`,
    };
    // Computed from the deliveries: a search naming the referral, and a read by id.
    expect(served(await searchServiceRequests(ctx(both), principal, search(identifier('ref-a'))))).toEqual([expected]);
    const read = await serviceRequestProvider(ctx(both)).tryRead(principal, ids['ref-a']!);
    expect(read?.related).toEqual([expected.version]);
    // Read from the table of migration 085.
    const listed = served(await searchServiceRequests(ctx(both), principal, search([])));
    expect(listed.filter((s) => s.resource.id === ids['ref-a'])).toEqual([expected]);
  });

  it('serves the same referrals, versions and last changes whichever way the search is answered', async () => {
    const fromTable = served(await searchServiceRequests(ctx(both), principal, search(identifier(`${system}|`))));
    expect(fromTable.map((s) => s.resource.identifier?.[0]?.value).sort()).toEqual(['ref-a', 'ref-b', 'ref-c']);
    const computed: ReturnType<typeof served> = [];
    for (const value of ['ref-a', 'ref-b', 'ref-c']) {
      computed.push(
        ...served(await searchServiceRequests(ctx(both), principal, search(identifier(`${system}|${value}`)))),
      );
    }
    const byId = (list: typeof computed) => [...list].sort((x, y) => x.resource.id!.localeCompare(y.resource.id!));
    expect(byId(fromTable)).toEqual(byId(computed));
    // `<system>|` beside a referral's identifier in one parameter (OR): every referral of the system, as alone.
    const mixed = await searchServiceRequests(
      ctx(both),
      principal,
      search(identifier(`${system}|ref-c,${system}|,${system}|ref-a`)),
    );
    expect(served(mixed)).toEqual(fromTable);
    expect(mixed.total).toBe(3);
    // The same answer in pages of one, by the page tokens either way makes.
    const paged: ReturnType<typeof served> = [];
    let page = await searchServiceRequests(ctx(both), principal, search(identifier(`${system}|,${system}|ref-b`), 1));
    paged.push(...served(page));
    while (page.next) {
      page = await searchServiceRequests(ctx(both), principal, {
        ...search(identifier(`${system}|,${system}|ref-b`), 1),
        page: page.next,
      });
      paged.push(...served(page));
    }
    expect(paged).toEqual(fromTable);
  });

  it('reads identifier=<system>| beside a referral’s identifier from the table, not from the deliveries', async () => {
    await searchServiceRequests(ctx(both), principal, search([], 0));
    const plans = await plansOf(db, () =>
      searchServiceRequests(ctx(both), principal, search(identifier(`${system}|,${system}|ref-a`))),
    );
    expect(plans.length).toBeGreaterThanOrEqual(2);
    for (const plan of plans) {
      expect(plan).not.toMatch(/ on (delivery|referral_identifier)\b/);
    }
  });
});
