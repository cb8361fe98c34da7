import type { Principal } from '../../src/access/principal';
import type { PipelineContext } from '../../src/event/context';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import type { FhirSearch } from '../../src/reports/fhir-search/parse-search';
import {
  searchServiceRequests,
  serviceRequestProvider,
} from '../../src/reports/service-request-search/service-request-search';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';
import { plansOf } from '../helpers/query-plans';

/**
 * `GET /fhir/ServiceRequest/{id}` and a search by `identifier` built every referral the municipality ever received
 * (one per referral, DISTINCT ON) and then kept the one asked for: a read cost as much as the whole list. They read
 * the deliveries of the referral named, through the indexes of `referral_identifier`.
 */
describe('a read of one received referral, or a search by its identifier, reads that referral only', () => {
  let db: Db;
  const schema = `t_sr_plan_${Date.now().toString(36)}`;
  const system = 'urn:agb:01234567:referral';
  const ctx = () =>
    ({ db, registry: { destinations: [{ id: 'gm1', municipality: 'GM0001' }] } }) as unknown as PipelineContext;
  const principal: Principal = {
    id: 'api-key:municipality',
    role: 'municipality',
    practices: [],
    municipalities: ['GM0001'],
    via: 'api-key',
  };
  const search = (filters: FhirSearch['filters']): FhirSearch => ({
    resourceType: 'ServiceRequest',
    filters,
    count: 10,
    summaryCount: false,
    total: 'accurate',
    pretty: false,
    applied: new URLSearchParams(),
    ignored: [],
  });

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '/tmp' });
    await migrate(db);
    // Twenty thousand referrals received by one municipality.
    await db.query(`INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload)
      SELECT gen_random_uuid(), '01234567', 'sr-' || g, 'generic-json', 'referral.created', 'delivered', 't', '\\x00'
      FROM generate_series(1, 20000) g`);
    await db.query(
      `INSERT INTO referral_identifier (inbox_id, tenant, system, value, service_request_id)
       SELECT id, tenant, $1, 'ref-' || source_event_id, gen_random_uuid() FROM inbox`,
      [system],
    );
    await db.query(`INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, delivered_at)
      SELECT gen_random_uuid(), id, 'gm1', gen_random_uuid()::text, 'delivered', now() FROM inbox`);
    await db.exec('ANALYZE inbox; ANALYZE delivery; ANALYZE referral_identifier');
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
});
