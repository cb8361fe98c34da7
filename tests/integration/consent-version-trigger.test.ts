import { randomBytes } from 'node:crypto';
import type { Consent } from '@medplum/fhirtypes';
import { upsertConsents } from '../../src/event/event-store';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { PRACTICE_AGB, randomBsn } from '../helpers/builders';
import { migrateBefore } from '../helpers/migrate-before';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';
import { buildConsent } from '../unit/policy/builders';

/** A consent of its own child, `status` as given. */
function consentOf(bsn: string, status: Consent['status'] = 'active'): Consent {
  return buildConsent({ id: `consent-${bsn}`, by: `Patient/p-${bsn}`, patient: `Patient/p-${bsn}`, status });
}

/** The versions kept of consent `id`, oldest first, and the one the registry holds now. */
async function versionsOf(db: Db, id: string): Promise<{ kept: number[]; now: number | undefined }> {
  const kept = await db.query<{ version_id: number }>(
    'SELECT version_id FROM consent_history WHERE id = $1 ORDER BY version_id',
    [id],
  );
  const [now] = await db.query<{ version_id: number }>('SELECT version_id FROM consent WHERE id = $1', [id]);
  return { kept: kept.map((r) => r.version_id), now: now?.version_id };
}

/** A write as an older build makes it: the columns it knows, `version_id` not among them. */
async function olderBuildUpsert(db: Db, bsn: string, consent: Consent): Promise<void> {
  await db.query(
    `INSERT INTO consent (id, tenant, patient_bsn, status, date_time, resource)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, date_time = EXCLUDED.date_time,
       resource = EXCLUDED.resource, updated_at = now()`,
    [consent.id, PRACTICE_AGB, bsn, consent.status, consent.dateTime ?? null, JSON.stringify(consent)],
  );
}

/**
 * Migration 087 numbered each consent's versions by reading the highest version kept (`max(version_id)` over
 * `consent_history`, a dynamic statement planned anew) before every insert, and an upsert is an insert first: every
 * write to the consent registry, a decision's consent read again or a re-sent consent, read the history. Migration
 * 090 numbers them from the row being written (and, for a consent deleted and stored again, from what its deletion
 * kept): the history is written, never read, by a write to the registry.
 */
describe('consent versions from migration 090 on', () => {
  const schema = `t_consent_ver_${randomBytes(5).toString('hex')}`;
  let db: Db;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrate(db);
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  /**
   * What `write` did to `consent_history`, counted in its own transaction (`pg_stat_xact_user_tables`, from before to
   * after it: the backend's counts not yet reported, of its earlier transactions, are in both).
   */
  async function historyTouchedBy(write: (tx: Db) => Promise<unknown>) {
    return db.transaction(async (tx) => {
      const counts = async () => {
        const [row] = await tx.query<{ seq_scan: number; idx_scan: number; n_tup_ins: number }>(
          `SELECT seq_scan::int, COALESCE(idx_scan, 0)::int AS idx_scan, n_tup_ins::int FROM pg_stat_xact_user_tables
           WHERE relid = 'consent_history'::regclass`,
        );
        return row ?? { seq_scan: 0, idx_scan: 0, n_tup_ins: 0 };
      };
      const before = await counts();
      await write(tx);
      const after = await counts();
      return {
        seq_scan: after.seq_scan - before.seq_scan,
        idx_scan: after.idx_scan - before.idx_scan,
        n_tup_ins: after.n_tup_ins - before.n_tup_ins,
      };
    });
  }

  it('writes a new consent, a changed one and an unchanged one without reading the history', async () => {
    const [fresh, changed, unchanged] = [randomBsn(), randomBsn(), randomBsn()];
    await upsertConsents(db, PRACTICE_AGB, changed, [consentOf(changed)]);
    await upsertConsents(db, PRACTICE_AGB, unchanged, [consentOf(unchanged)]);

    const touched = await historyTouchedBy(async (tx) => {
      await upsertConsents(tx, PRACTICE_AGB, fresh, [consentOf(fresh)]);
      await upsertConsents(tx, PRACTICE_AGB, changed, [consentOf(changed, 'inactive')]);
      await upsertConsents(tx, PRACTICE_AGB, unchanged, [consentOf(unchanged)]);
    });
    // Two versions kept (the new consent's first, the changed one's second), and no scan of the history at all.
    expect(touched).toEqual({ seq_scan: 0, idx_scan: 0, n_tup_ins: 2 });
    expect(await versionsOf(db, `consent-${fresh}`)).toEqual({ kept: [1], now: 1 });
    expect(await versionsOf(db, `consent-${changed}`)).toEqual({ kept: [1, 2], now: 2 });
    expect(await versionsOf(db, `consent-${unchanged}`)).toEqual({ kept: [1], now: 1 });
  });

  it('versions the writes of an older build beside it, which knows nothing of version_id', async () => {
    const bsn = randomBsn();
    const touched = await historyTouchedBy(async (tx) => {
      await olderBuildUpsert(tx, bsn, consentOf(bsn));
      await olderBuildUpsert(tx, bsn, consentOf(bsn, 'inactive'));
      await olderBuildUpsert(tx, bsn, consentOf(bsn, 'inactive'));
    });
    expect(touched).toEqual({ seq_scan: 0, idx_scan: 0, n_tup_ins: 2 });
    expect(await versionsOf(db, `consent-${bsn}`)).toEqual({ kept: [1, 2], now: 2 });
  });

  it('continues the history of a consent deleted and stored again, also after a TRUNCATE', async () => {
    const bsn = randomBsn();
    const id = `consent-${bsn}`;
    await upsertConsents(db, PRACTICE_AGB, bsn, [consentOf(bsn)]);
    await upsertConsents(db, PRACTICE_AGB, bsn, [consentOf(bsn, 'inactive')]);
    await db.query('DELETE FROM consent WHERE id = $1', [id]);
    const { versions } = await upsertConsents(db, PRACTICE_AGB, bsn, [consentOf(bsn)]);
    // The version the write answers is the one it was kept as: what its audit cites.
    expect(versions[id]).toBe(3);
    expect(await versionsOf(db, id)).toEqual({ kept: [1, 2, 3], now: 3 });
    // Deleted again, twice over, by an older build's write too.
    await db.query('DELETE FROM consent WHERE id = $1', [id]);
    await olderBuildUpsert(db, bsn, consentOf(bsn, 'inactive'));
    await db.query('DELETE FROM consent WHERE id = $1', [id]);
    await olderBuildUpsert(db, bsn, consentOf(bsn));
    expect(await versionsOf(db, id)).toEqual({ kept: [1, 2, 3, 4, 5], now: 5 });

    await db.query('TRUNCATE consent');
    expect((await upsertConsents(db, PRACTICE_AGB, bsn, [consentOf(bsn)])).versions[id]).toBe(6);
    expect(await versionsOf(db, id)).toEqual({ kept: [1, 2, 3, 4, 5, 6], now: 6 });
  });
});

describe('a consent deleted before migration 090', () => {
  const schema = `t_consent_del_${randomBytes(5).toString('hex')}`;
  let db: Db;

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('continues its history when stored again after it', async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrateBefore(db, '090');
    const bsn = randomBsn();
    const id = `consent-${bsn}`;
    await olderBuildUpsert(db, bsn, consentOf(bsn));
    await olderBuildUpsert(db, bsn, consentOf(bsn, 'inactive'));
    await db.query('DELETE FROM consent WHERE id = $1', [id]);
    expect(await migrate(db)).toEqual(['090_consent_version_cheap.sql', '091_received_service_request_withdrawn.sql']);

    expect((await upsertConsents(db, PRACTICE_AGB, bsn, [consentOf(bsn)])).versions[id]).toBe(3);
    expect(await versionsOf(db, id)).toEqual({ kept: [1, 2, 3], now: 3 });
  });
});
