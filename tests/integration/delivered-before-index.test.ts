import type { PipelineContext } from '../../src/event/context';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { listPracticeEvents } from '../../src/reports/practice-events/practice-events';
import { listReceivedReferrals } from '../../src/reports/referral-timeline/received-referrals';
import { encodeTimeIdCursor } from '../../src/reports/time-id-page';
import { insertInboxRows, insertMonthOfDeliveries } from '../helpers/inbox-rows';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';
import { plansOf } from '../helpers/query-plans';

/**
 * Index 068 (`delivery_delivered_before`: the deliveries delivered once and not delivered now) served the
 * municipality's received referrals until 070 read them all by `first_delivered_at`. Unused, it still cost every
 * write of a delivery that leaves `delivered` after a delivery (a redelivery, its dead letter). 079 drops it.
 */
describe('index 068 (delivery_delivered_before)', () => {
  let db: Db;
  const schema = `t_delivered_before_${Date.now().toString(36)}`;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '/tmp' });
    await migrate(db);
    // A month of deliveries to forty municipalities, a few of them delivered once and being sent again or dead since.
    const ids = await insertInboxRows(db, 'delivered', 20_000);
    await insertMonthOfDeliveries(db, ids);
    await db.query(`UPDATE inbox SET state = 'dead' WHERE id IN (SELECT inbox_id FROM delivery WHERE state = 'dead')`);
  });

  afterAll(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.close();
  });

  it('is gone after the migrations', async () => {
    const [row] = await db.query<{ index: string | null }>(`SELECT to_regclass('delivery_delivered_before') AS index`);
    expect(row!.index).toBeNull();
  });

  it('is read by none of the reads it served, were it there', async () => {
    // As on a database that 068 built: the index back, with its statistics.
    await db.query(`CREATE INDEX IF NOT EXISTS delivery_delivered_before ON delivery (destination, delivered_at, id)
      WHERE state <> 'delivered' AND delivered_at IS NOT NULL`);
    await db.exec('ANALYZE inbox; ANALYZE delivery');
    try {
      const ctx = { db } as unknown as PipelineContext;
      const middle = {
        at: new Date(Date.now() - 20 * 86_400_000).toISOString(),
        id: '00000000-0000-4000-8000-000000000000',
      };
      const plans = await plansOf(db, async () => {
        // The municipality's received referrals (the console's list): first and a later page, a period, a search.
        await listReceivedReferrals(ctx, ['gm1'], { limit: 50 });
        await listReceivedReferrals(ctx, ['gm1'], {
          limit: 50,
          page: encodeTimeIdCursor({ ...middle, at: middle.at.replace('Z', '000Z'), direction: 'older' }),
        });
        await listReceivedReferrals(ctx, ['gm1', 'gm2'], {
          limit: 50,
          filter: { from: '2026-11-01', to: '2026-11-30' },
        });
        await listReceivedReferrals(ctx, ['gm1'], { limit: 50, filter: { referral: 'ref-1' } });
        // The practice's dead events, whether each was delivered before.
        await listPracticeEvents(db, ['01234567'], { state: 'dead', size: 100 });
      });
      expect(plans.length).toBeGreaterThanOrEqual(5);
      for (const plan of plans) {
        expect(plan).not.toContain('delivery_delivered_before');
        expect(plan).not.toContain('Seq Scan on delivery');
      }
    } finally {
      await db.query('DROP INDEX delivery_delivered_before');
    }
  });
});
