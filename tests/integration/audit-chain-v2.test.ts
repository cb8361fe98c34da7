import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { COLUMNS_LINE_SQL } from '../../src/audit/chain-columns';
import { verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { appendFormat1 } from '../helpers/audit-format-1';
import { buildDisclosureAuditEvent as event } from '../helpers/builders';
import { migrateBefore } from '../helpers/migrate-before';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * Chain format 2 (migration 015): the hash covers the search columns too, and PostgreSQL checks such rows itself. A
 * broken row is named as the check in this process always named it; rows written before keep verifying as format 1.
 */
const schemas: string[] = [];
let admin: pg.Client;

async function openSchema(): Promise<{ db: Db; schema: string }> {
  const schema = `t_chain_v2_${randomBytes(5).toString('hex')}`;
  schemas.push(schema);
  return { db: await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4, dataDir: '' }), schema };
}

/** `db` counting the rows it returns that carry an AuditEvent's text: rows read here to be checked here. */
function countingTexts(db: Db): { db: Db; texts: () => number } {
  let texts = 0;
  const wrap = (d: Db): Db => ({
    ...d,
    query: async <T>(sql: string, params?: readonly unknown[]): Promise<T[]> => {
      const rows = await d.query<T>(sql, params);
      texts += rows.filter((r) => typeof r === 'object' && r !== null && 'resource' in r).length;
      return rows;
    },
    transaction: (fn) => d.transaction((tx) => fn(wrap(tx))),
  });
  return { db: wrap(db), texts: () => texts };
}

async function tamper(schema: string, sql: string, params: unknown[]): Promise<void> {
  await admin.query(`SET search_path TO ${schema}`);
  await admin.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
  try {
    await admin.query(sql, params);
  } finally {
    await admin.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
  }
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
});

afterAll(async () => {
  for (const schema of schemas) {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
  await admin.end();
});

describe('a chain written before and after migration 015', () => {
  let db: Db;
  let schema: string;
  const tenant = '10000001';

  beforeAll(async () => {
    ({ db, schema } = await openSchema());
    await migrateBefore(db, '015');
    await appendFormat1(
      db,
      tenant,
      Array.from({ length: 6 }, (_, i) => event(i)),
    );
    expect(await migrate(db)).toEqual([
      '015_audit_chain_v2.sql',
      '016_sealed_storage.sql',
      '017_delivery_pending.sql',
      '018_inbox_denied.sql',
      '019_inbox_state_count.sql',
      '020_audit_event_failed.sql',
      '021_inbox_open_unfinished.sql',
      '022_feedback_request_digest.sql',
      '023_inbox_practice_received.sql',
      '024_referral_addressing.sql',
      '025_receiver_answer_sealed.sql',
      '027_trajectory_event_unacknowledged.sql',
      '028_audit_checkpoint_signed.sql',
      '029_referral_owner.sql',
      '030_inbox_child_key.sql',
      '034_referral_identity_kept.sql',
      '036_report_child_index.sql',
      '039_destination_half_open.sql',
      '040_feedback_reason_sealed.sql',
      '042_feedback_task_identifier.sql',
      '047_child_disclosure.sql',
      '049_consent_writer.sql',
      '050_destination_paused_by_principal.sql',
      '051_withdrawal_follow_up.sql',
      '059_delivery_pending_since.sql',
      '061_child_disclosure_agreement.sql',
      '062_audit_full_verification.sql',
      '063_delivery_delivered_window.sql',
      '066_inbox_received_order.sql',
      '067_report_completeness_hours.sql',
      '068_delivery_delivered_before.sql',
      '069_period_prefix_indexes.sql',
      '070_delivery_first_delivered.sql',
      '074_delivery_possibly_received.sql',
      '078_audit_chain_integrity.sql',
      '079_inbox_poll_order.sql',
      '080_delivery_first_delivered_when.sql',
      '083_his_referral_identifier.sql',
      '084_inbox_records_objection.sql',
      '085_received_service_request.sql',
      '087_consent_history.sql',
      '088_audit_chain_incident.sql',
      '089_retention_run.sql',
      '090_consent_version_cheap.sql',
      '091_received_service_request_withdrawn.sql',
    ]);
    const writer = new AuditWriter(db);
    await Promise.all(Array.from({ length: 6 }, (_, i) => writer.append(tenant, event(6 + i))));
  });

  afterAll(async () => {
    await db.close();
  });

  it('keeps the rows written before as format 1 and writes format 2 after', async () => {
    const rows = await db.query<{ chain_format: number }>(
      'SELECT chain_format FROM audit_event WHERE tenant = $1 ORDER BY seq',
      [tenant],
    );
    expect(rows.map((r) => r.chain_format)).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
  });

  it('verifies the whole chain, reading the text of the format 1 rows only', async () => {
    const counting = countingTexts(db);
    const [head] = await db.query<{ hash: string }>('SELECT hash FROM audit_chain_head WHERE tenant = $1', [tenant]);
    expect(await verifyTenant(counting.db, tenant)).toEqual({
      tenant,
      ok: true,
      rows: 12,
      headSeq: 12,
      headHash: head!.hash,
    });
    expect(counting.texts()).toBe(6);
  });

  it('finds a column of a format 1 row changed, and a format 2 row marked format 1', async () => {
    await tamper(schema, `UPDATE audit_event SET chain_format = 1 WHERE tenant = $1 AND seq = 9`, [tenant]);
    expect(await verifyTenant(db, tenant)).toEqual({
      tenant,
      ok: false,
      rows: 9,
      brokenAtSeq: 9,
      problem: 'content does not match its hash',
    });
    await tamper(schema, `UPDATE audit_event SET outcome = '8' WHERE tenant = $1 AND seq = 4`, [tenant]);
    expect(await verifyTenant(db, tenant)).toEqual({
      tenant,
      ok: false,
      rows: 4,
      brokenAtSeq: 4,
      problem: 'column outcome does not match the resource',
    });
  });
});

describe('a format 2 chain checked in PostgreSQL', () => {
  let db: Db;
  let schema: string;
  let writer: AuditWriter;
  let tenants = 0;

  /** A fresh chain of `n` rows. */
  async function chainOf(n: number): Promise<string> {
    const tenant = `2${String(++tenants).padStart(7, '0')}`;
    await Promise.all(Array.from({ length: n }, (_, i) => writer.append(tenant, event(i))));
    return tenant;
  }

  beforeAll(async () => {
    ({ db, schema } = await openSchema());
    await migrate(db);
    writer = new AuditWriter(db);
  });

  afterAll(async () => {
    await writer.flush();
    await db.close();
  });

  it('reads no row’s text here for a chain that verifies, and only the broken row’s for one that does not', async () => {
    const tenant = await chainOf(30);
    const intact = countingTexts(db);
    expect(await verifyTenant(intact.db, tenant)).toEqual(expect.objectContaining({ ok: true, rows: 30 }));
    expect(intact.texts()).toBe(0);
    await tamper(schema, `UPDATE audit_event SET type = 'x' WHERE tenant = $1 AND seq = 20`, [tenant]);
    const broken = countingTexts(db);
    expect(await verifyTenant(broken.db, tenant)).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 20, problem: 'column type does not match the resource' }),
    );
    expect(broken.texts()).toBe(1);
  });

  // Ten rows are checked in two halves, (0, 5] and (5, 10]: rows 5 and 6 are either side of the boundary. Each case:
  // the change, the rows it changes, where the chain breaks, the rows counted up to there, and the problem named.
  it.each([
    [
      `SET resource = replace(resource, '"outcome":"0"', '"outcome":"4"')`,
      '= 7',
      7,
      7,
      'content does not match its hash',
    ],
    ["SET patient_bsn = '999999990'", '= 7', 7, 7, 'column patient_bsn does not match the resource'],
    ["SET prev_hash = repeat('f', 64)", '= 7', 7, 7, 'prev_hash does not match the previous row'],
    ["SET hash = repeat('e', 64)", '= 7', 7, 7, 'content does not match its hash'],
    ["SET action = 'C'", '= 5', 5, 5, 'column action does not match the resource'],
    ["SET prev_hash = repeat('0', 64)", '= 6', 6, 6, 'prev_hash does not match the previous row'],
    ['DELETE', '= 7', 8, 7, 'gap: expected seq 7'],
    ['DELETE', '= 5', 6, 5, 'gap: expected seq 5'],
    ['DELETE', '<= 5', 6, 1, 'gap: expected seq 1'],
    ['DELETE', '= 10', 10, 9, 'rows 10 to 10 are missing (the chain head is at 10)'],
  ])('finds %s where seq %s, broken at seq %s', async (change, which, brokenAtSeq, rows, problem) => {
    const tenant = await chainOf(10);
    const statement = change === 'DELETE' ? 'DELETE FROM audit_event' : `UPDATE audit_event ${change}`;
    await tamper(schema, `${statement} WHERE tenant = $1 AND seq ${which}`, [tenant]);
    expect(await verifyTenant(db, tenant)).toEqual({ tenant, ok: false, rows, brokenAtSeq, problem });
  });

  it('finds a row re-linked with a hash recomputed by the recipe, where it no longer links to the row before', async () => {
    const tenant = await chainOf(10);
    await tamper(
      schema,
      `UPDATE audit_event SET prev_hash = repeat('f', 64),
         hash = encode(sha256(convert_to(
           repeat('f', 64) || E'\\n' || seq || E'\\n' || resource || E'\\n' || ${COLUMNS_LINE_SQL}, 'UTF8')), 'hex')
       WHERE tenant = $1 AND seq = 7`,
      [tenant],
    );
    expect(await verifyTenant(db, tenant)).toEqual({
      tenant,
      ok: false,
      rows: 7,
      brokenAtSeq: 7,
      problem: 'prev_hash does not match the previous row',
    });
  });

  it('checks only up to upToSeq, and from a retention checkpoint', async () => {
    const tenant = await chainOf(10);
    await tamper(schema, `UPDATE audit_event SET outcome = '4' WHERE tenant = $1 AND seq = 9`, [tenant]);
    expect(await verifyTenant(db, tenant, { upToSeq: 8 })).toEqual(
      expect.objectContaining({ ok: true, rows: 8, headSeq: 8 }),
    );
    const [row4] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = 4', [
      tenant,
    ]);
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO audit_checkpoint (tenant, seq, hash, purged_rows) VALUES ($1, 4, $2, 4)`, [
        tenant,
        row4!.hash,
      ]);
      await tx.query("SET LOCAL jeugdbrug.audit_purge = 'on'");
      await tx.query('DELETE FROM audit_event WHERE tenant = $1 AND seq <= 4', [tenant]);
    });
    expect(await verifyTenant(db, tenant, { upToSeq: 8 })).toEqual(
      expect.objectContaining({ ok: true, rows: 4, headSeq: 8, checkpoint: expect.objectContaining({ seq: 4 }) }),
    );
    expect(await verifyTenant(db, tenant)).toEqual(
      expect.objectContaining({
        ok: false,
        rows: 5,
        brokenAtSeq: 9,
        problem: 'column outcome does not match the resource',
      }),
    );
  });
});
