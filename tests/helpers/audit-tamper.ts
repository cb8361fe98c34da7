import pg from 'pg';
import { verifyDueChains } from '../../src/audit/full-verify';
import { createLogger } from '../../src/kernel/logger';
import { COLUMNS_LINE_SQL } from '../../src/audit/chain-columns';
import { TEST_DATABASE_URL, type TestApp } from './test-runtime';

/**
 * Runs `fn` on the test's schema as someone with superuser rights could (the append-only trigger off): the tampering
 * the audit chain is there to show.
 */
export async function asSuperuser<T>(schema: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`SET search_path TO ${schema}`);
    await admin.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
    const out = await fn(admin);
    await admin.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
    return out;
  } finally {
    await admin.end();
  }
}

/** Changes one row's content, its hash left alone (only a verification reading that row finds it); returns the old. */
export async function changeRowContent(schema: string, tenant: string, seq: number): Promise<string> {
  return asSuperuser(schema, async (c) => {
    const [row] = (
      await c.query<{ resource: string }>(
        'SELECT resource::text AS resource FROM audit_event WHERE tenant = $1 AND seq = $2',
        [tenant, seq],
      )
    ).rows;
    await c.query(
      `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{outcome}', '"8"') WHERE tenant = $1 AND seq = $2`,
      [tenant, seq],
    );
    return row!.resource;
  });
}

/** Puts a row's content back as `changeRowContent` found it. */
export async function restoreRowContent(schema: string, tenant: string, seq: number, resource: string): Promise<void> {
  await asSuperuser(schema, (c) =>
    c.query('UPDATE audit_event SET resource = $3 WHERE tenant = $1 AND seq = $2', [tenant, seq, resource]),
  );
}

/**
 * Sets the hash of a row (one a signed checkpoint names: the signer's check of the newest rows finds it), by default
 * to one it never had; returns the hash it had.
 */
export async function setRowHash(schema: string, tenant: string, seq: number, hash = '0'.repeat(64)): Promise<string> {
  return asSuperuser(schema, async (c) => {
    const [row] = (
      await c.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [tenant, seq])
    ).rows;
    await c.query('UPDATE audit_event SET hash = $3 WHERE tenant = $1 AND seq = $2', [tenant, seq, hash]);
    return row!.hash;
  });
}

/** The scheduled whole verification of every chain, as a worker process runs it, all of them due. */
export function verifyOnSchedule(app: TestApp) {
  return verifyDueChains(
    {
      db: app.rt.ctx.db,
      log: createLogger('silent'),
      keys: app.rt.ctx.signedHeads.keys,
      file: app.rt.ctx.signedHeads.signer.file,
      retentionDays: 3650,
    },
    0,
  );
}

/**
 * A consistent rewrite, as someone with superuser rights could make it: row `seq` deleted, the later rows renumbered
 * and re-hashed (format 2: the columns line in the hash), the chain head moved. The hash chain alone still verifies.
 */
export async function rewriteChainWithout(schema: string, tenant: string, seq: number): Promise<void> {
  await asSuperuser(schema, async (c) => {
    await c.query('BEGIN');
    await c.query('ALTER TABLE audit_event DISABLE TRIGGER USER');
    await c.query('DELETE FROM audit_event WHERE tenant = $1 AND seq = $2', [tenant, seq]);
    await c.query('UPDATE audit_event SET seq = seq - 1 WHERE tenant = $1 AND seq > $2', [tenant, seq]);
    const rows = (
      await c.query<{ seq: string }>('SELECT seq FROM audit_event WHERE tenant = $1 AND seq >= $2 ORDER BY seq', [
        tenant,
        seq,
      ])
    ).rows;
    let prev = (
      await c.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [tenant, seq - 1])
    ).rows[0]!.hash;
    for (const r of rows) {
      prev = (
        await c.query<{ hash: string }>(
          `UPDATE audit_event SET prev_hash = $3, hash = encode(sha256(convert_to($3 || E'\\n' || seq || E'\\n' ||
             resource || E'\\n' || ${COLUMNS_LINE_SQL}, 'UTF8')), 'hex')
           WHERE tenant = $1 AND seq = $2 RETURNING hash`,
          [tenant, r.seq, prev],
        )
      ).rows[0]!.hash;
    }
    await c.query('UPDATE audit_chain_head SET seq = seq - 1, hash = $2 WHERE tenant = $1', [tenant, prev]);
    await c.query('ALTER TABLE audit_event ENABLE TRIGGER USER');
    await c.query('COMMIT');
  });
}
