import { getDeliveryWorks } from '../../src/event/event-store';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { plansOf } from '../helpers/query-plans';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * The deliver stage reads a group of deliveries with what the practice's other events of each referral say (a later
 * cancellation, an earlier event still on its way). With statistics of a smaller table, as in a bulk load into a fresh
 * database before autovacuum's analyze, the planner began the "earlier event still pending" check from every pending
 * delivery of the destination, for each delivery read: 1.6 s for a group of 50 with 10,000 pending (npm run bench:
 * 469 -> 242 events/s). Each check must start from the delivery's own referral.
 */
describe("the deliver stage's read of a group of deliveries", () => {
  let db: Db;
  const schema = `t_work_plan_${Date.now().toString(36)}`;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '/tmp' });
    await migrate(db);
    // Statistics of the empty tables, then the load.
    await db.query('ANALYZE');
    await db.query(`INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id, payload)
      SELECT gen_random_uuid(), '01234567', 'plan-' || g, 'generic-json', 'referral.created', 'decided', 't', '\\x00'
      FROM generate_series(1, 4000) g`);
    await db.query(`INSERT INTO referral_identifier (inbox_id, tenant, system, value)
      SELECT id, tenant, 'urn:agb:01234567:referral', 'ref-' || source_event_id FROM inbox`);
    await db.query(`INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state)
      SELECT gen_random_uuid(), id, 'gm0226', gen_random_uuid()::text, 'pending' FROM inbox`);
  });

  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });

  it('looks up the pending deliveries of each referral, never all those of the destination', async () => {
    const ids = (await db.query<{ id: string }>('SELECT id FROM delivery LIMIT 50')).map((r) => r.id);
    const plans = await plansOf(db, () => getDeliveryWorks(db, ids), { analyze: true });
    expect(plans).toHaveLength(1);
    expect(plans[0]).not.toContain('delivery_pending_age');
    // No part of the read done for each of the 50 deliveries reads hundreds of rows.
    expect(plans[0]).not.toMatch(/rows=\d{3,} loops=50\)/);
    // And the works come back whole.
    expect((await getDeliveryWorks(db, ids)).map((w) => w.waits_for_earlier)).toEqual(ids.map(() => false));
  });
});
