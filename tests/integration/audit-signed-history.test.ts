import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { operatorAction, SYSTEM_RETENTION, SYSTEM_WORKER } from '../../src/audit/audit-events';
import {
  checkSignedCheckpoint,
  HeadSigner,
  openSignedHeads,
  publicKeysOf,
  signExportEnd,
  signHead,
  signPurgeCheckpoint,
  type SignedTenantVerdict,
} from '../../src/audit/signed-heads';
import { purgeChain } from '../../src/audit/retention';
import { tryGetChainHead, verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import type { Db } from '../../src/kernel/db';
import { createLogger } from '../../src/kernel/logger';
import { useMigratedSchema } from '../helpers/empty-schema';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';

const TENANT = '07654321';
const DAY_MS = 24 * 3600 * 1000;

describe('signed history: a chain must extend every checkpoint signed before', () => {
  let schema: string;
  let dataDir: string;
  let db: Db;
  let signed: ReturnType<typeof openSignedHeads>;
  let errors: { fields: unknown; msg: string }[];
  let contradictions: [string, number][];
  let signer: HeadSigner;

  const event = (n: number) => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: `destination/${n}` });

  async function write(n: number, writer = new AuditWriter(db)): Promise<void> {
    for (let i = 0; i < n; i++) {
      await writer.append(TENANT, event(i));
    }
  }

  /** As a superuser would, with the append-only triggers off. */
  async function asSuperuser(sql: string, params: unknown[] = []): Promise<void> {
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`SET search_path TO ${schema}`);
      await admin.query('BEGIN');
      await admin.query("SET LOCAL session_replication_role = 'replica'");
      await admin.query(sql, params);
      await admin.query('COMMIT');
    } finally {
      await admin.end();
    }
  }

  /** Rows after `seq` deleted and the head moved back onto row `seq`: the chain cut short, consistently. */
  async function cutAfter(seq: number): Promise<void> {
    await asSuperuser(
      `WITH d AS (DELETE FROM audit_event WHERE tenant = $1 AND seq > $2)
       UPDATE audit_chain_head SET seq = $2,
         hash = (SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2) WHERE tenant = $1`,
      [TENANT, seq],
    );
  }

  async function verified(opts: { now?: Date; retentionDays?: number } = {}): Promise<SignedTenantVerdict> {
    return checkSignedCheckpoint(db, await verifyTenant(db, TENANT), publicKeysOf(signed.keys), signed.file, {
      retentionDays: opts.retentionDays ?? 1826,
      ...(opts.now ? { now: opts.now } : {}),
    });
  }

  const lines = (): { seq: number; hash: string }[] =>
    fs
      .readFileSync(signed.file.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; hash: string });

  // Migrated once for the file; each test starts from the empty schema a fresh migration leaves.
  const migrated = useMigratedSchema('sighist', 4);

  beforeEach(() => {
    ({ schema, db } = migrated);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-sighist-'));
    signed = openSignedHeads(undefined, dataDir);
    errors = [];
    contradictions = [];
    const log = createLogger('silent');
    const spy = Object.create(log) as Logger;
    spy.error = ((fields: unknown, msg: string) => errors.push({ fields, msg })) as unknown as Logger['error'];
    signer = new HeadSigner(db, signed.keys, signed.file, spy, {
      witnessTimeoutMs: 1000,
      onContradiction: (tenant, seq) => contradictions.push([tenant, seq]),
    });
  });

  afterEach(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses to sign a head that does not extend the last signed one, and says which chain and seq', async () => {
    await write(5);
    await signer.signNow();
    expect(lines().at(-1)).toMatchObject({ seq: 5 });
    await cutAfter(3);
    await write(4);
    await signer.signNow();
    expect(lines().map((l) => l.seq)).toEqual([5]);
    expect(errors).toEqual([
      { fields: { tenant: TENANT, signedSeq: 5 }, msg: expect.stringContaining('contradicts its signed checkpoint') },
    ]);
    expect(JSON.stringify(errors)).not.toContain('destination/');
    expect(contradictions).toEqual([[TENANT, 5]]);
    // Nor is any later head of the cut chain.
    await write(1);
    await signer.signNow();
    expect(lines().map((l) => l.seq)).toEqual([5]);
  });

  it('signs heads that extend the last signed one, also after a restart that reads it from the file', async () => {
    await write(3);
    await signer.signNow();
    await write(2);
    const restarted = new HeadSigner(db, signed.keys, signed.file, createLogger('silent'), { witnessTimeoutMs: 1000 });
    await restarted.signNow();
    expect(lines().map((l) => l.seq)).toEqual([3, 5]);
    expect((await verified()).ok).toBe(true);
  });

  it('reports a cut chain that grew again past a later signed head: every signed checkpoint is checked', async () => {
    await write(5);
    await signer.signNow();
    const first = lines()[0]!;
    await cutAfter(3);
    await write(4);
    // A newer signature over the regrown head (as a signer without the check above would have made).
    const head = (await tryGetChainHead(db, TENANT))!;
    signed.file.append([signHead(signed.keys.current, { tenant: TENANT, ...head })]);
    const v = await verified();
    expect(v).toMatchObject({ ok: false, brokenAtSeq: 5, signedCheckpoint: { seq: 5, hash: first.hash } });
    expect(v.ok ? '' : v.problem).toContain('rewritten');
  });

  it('refuses to append onto a forged chain head, and appends again once it is restored', async () => {
    const writer = new AuditWriter(db);
    await write(3, writer);
    const head = (await tryGetChainHead(db, TENANT))!;
    await asSuperuser('UPDATE audit_chain_head SET hash = $2 WHERE tenant = $1', [TENANT, 'a'.repeat(64)]);
    // The writer that wrote last (its fast path) and a fresh one (first use) both refuse.
    await expect(writer.append(TENANT, event(9))).rejects.toThrow(/chain head .* does not match its last row/);
    await expect(new AuditWriter(db).append(TENANT, event(9))).rejects.toThrow(/does not match its last row/);
    const [{ n } = { n: 0 }] = await db.query<{ n: number }>(
      'SELECT count(*)::float8 AS n FROM audit_event WHERE tenant = $1 AND prev_hash = $2',
      [TENANT, 'a'.repeat(64)],
    );
    expect(n).toBe(0);
    expect(await tryGetChainHead(db, TENANT)).toEqual({ seq: 3, hash: 'a'.repeat(64) });
    await asSuperuser('UPDATE audit_chain_head SET hash = $2 WHERE tenant = $1', [TENANT, head.hash]);
    await writer.append(TENANT, event(10));
    expect((await verifyTenant(db, TENANT)).ok).toBe(true);
  });

  /** An export's end: the row at `seq` as the export reads it. */
  async function endAt(seq: number): Promise<{ tenant: string; seq: number; hash: string }> {
    const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
      TENANT,
      seq,
    ]);
    return { tenant: TENANT, seq, hash: row!.hash };
  }

  it("signs an export's end that the signed history vouches for, before, at or after the last signed head", async () => {
    // Nothing signed yet: nothing to contradict.
    await write(3);
    expect(await signExportEnd(db, signed.keys, signed.file, await endAt(3), {})).toMatchObject({
      signedHead: { tenant: TENANT, seq: 3 },
    });
    await signer.signNow();
    await write(3);
    await signer.signNow();
    await write(2);
    for (const seq of [2, 3, 5, 6, 8]) {
      const end = await endAt(seq);
      expect(await signExportEnd(db, signed.keys, signed.file, end, {})).toEqual({
        signedHead: expect.objectContaining({ tenant: TENANT, seq, hash: end.hash }),
      });
    }
  });

  it("does not sign an export's end when the chain does not extend the last signed head, and names it", async () => {
    await write(5);
    await signer.signNow();
    const last = lines().at(-1)! as { seq: number; hash: string; signedAt: string; kid: string };
    // Cut after row 3 and grown again, consistently: every link checks, the head matches its last row.
    await cutAfter(3);
    await write(4);
    expect((await verifyTenant(db, TENANT)).ok).toBe(true);
    for (const seq of [7, 5, 4, 3, 2]) {
      const verdict = await signExportEnd(db, signed.keys, signed.file, await endAt(seq), {});
      expect(verdict).not.toHaveProperty('signedHead');
      expect(verdict).toMatchObject({
        signedCheckpoint: { seq: 5, hash: last.hash },
        problem: expect.stringContaining(`the checkpoint signed at ${last.signedAt} with key ${last.kid} (seq 5`),
      });
    }
  });

  /** The auditor's forged purge: any user with DELETE can set the session flag. */
  async function forgePurge(upTo: number): Promise<void> {
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO audit_checkpoint (tenant, seq, hash, purged_at, purged_rows)
         SELECT tenant, seq, hash, now(), seq FROM audit_event WHERE tenant = $1 AND seq = $2`,
        [TENANT, upTo],
      );
      await tx.query("SET LOCAL jeugdbrug.audit_purge = 'on'");
      await tx.query('DELETE FROM audit_event WHERE tenant = $1 AND seq <= $2', [TENANT, upTo]);
    });
  }

  it('rejects a purge of rows written after a checkpoint signed less than the retention period ago', async () => {
    await write(2);
    await signer.signNow();
    await write(3);
    await signer.signNow();
    await forgePurge(4);
    // Even with the purge AuditEvent forged too (the writer appends anything it is given).
    await new AuditWriter(db).append(
      TENANT,
      operatorAction({ actor: SYSTEM_RETENTION, action: 'purge', target: `audit_checkpoint/${TENANT}/4` }),
    );
    expect((await verifyTenant(db, TENANT)).ok).toBe(true);
    const v = await verified();
    expect(v).toMatchObject({ ok: false, brokenAtSeq: 4 });
    expect(v.ok ? '' : v.problem).toContain('not a retention purge');
  });

  it('rejects a purge checkpoint without the purge AuditEvent, even with no signed history', async () => {
    await write(5);
    await forgePurge(3);
    const v = await verifyTenant(db, TENANT);
    expect(v).toMatchObject({ ok: false, brokenAtSeq: 3 });
    expect(v.ok ? '' : v.problem).toContain('no purge AuditEvent');
  });

  /** The purge as retention does it: its AuditEvent in its transaction, its checkpoint signed with the key. */
  function realPurge(cutoff: Date): ReturnType<typeof purgeChain> {
    return purgeChain(
      db,
      TENANT,
      cutoff,
      (c) =>
        operatorAction({
          actor: SYSTEM_RETENTION,
          action: 'purge',
          target: `audit_checkpoint/${c.tenant}/${c.checkpointSeq}`,
        }),
      (cp) => signPurgeCheckpoint(signed.keys.current, cp),
    );
  }

  it('rejects an unsigned purge checkpoint, even of rows older than the retention period', async () => {
    await write(5);
    await signer.signNow();
    await write(3);
    await signer.signNow();
    // Forged with database access only: checkpoint, delete and purge AuditEvent, as the real purge would make them.
    await forgePurge(4);
    await new AuditWriter(db).append(
      TENANT,
      operatorAction({ actor: SYSTEM_RETENTION, action: 'purge', target: `audit_checkpoint/${TENANT}/4` }),
    );
    expect((await verifyTenant(db, TENANT)).ok).toBe(true);
    // Long after: the rows it deleted are past any retention period, so only the missing signature gives it away.
    const v = await verified({ now: new Date(Date.now() + 3 * DAY_MS), retentionDays: 2 });
    expect(v).toMatchObject({ ok: false, brokenAtSeq: 4, checkpoint: { seq: 4 } });
    expect(v.ok ? '' : v.problem).toContain('the retention checkpoint at seq 4 is not signed');
  });

  it('rejects a purge checkpoint whose signature was copied from a real one, and does not sign past it', async () => {
    await write(3);
    await signer.signNow();
    const real = await realPurge(new Date(Date.now() + DAY_MS));
    expect(real).toMatchObject({ checkpointSeq: 3 });
    expect(await verified({ now: new Date(Date.now() + 3 * DAY_MS), retentionDays: 2 })).toMatchObject({
      ok: true,
      checkpoint: { seq: 3 },
    });
    await write(3);
    await signer.signNow();
    expect(lines().map((l) => l.seq)).toEqual([3, 7]);
    // A further purge forged with the real checkpoint's key id and signature.
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO audit_checkpoint (tenant, seq, hash, purged_at, purged_rows, kid, sig)
         SELECT e.tenant, e.seq, e.hash, now(), 4, c.kid, c.sig FROM audit_event e, audit_checkpoint c
         WHERE e.tenant = $1 AND e.seq = 7 AND c.tenant = $1 AND c.seq = 3`,
        [TENANT],
      );
      await tx.query("SET LOCAL jeugdbrug.audit_purge = 'on'");
      await tx.query('DELETE FROM audit_event WHERE tenant = $1 AND seq <= 7', [TENANT]);
    });
    await new AuditWriter(db).append(
      TENANT,
      operatorAction({ actor: SYSTEM_RETENTION, action: 'purge', target: `audit_checkpoint/${TENANT}/7` }),
    );
    const v = await verified({ now: new Date(Date.now() + 3 * DAY_MS), retentionDays: 2 });
    expect(v).toMatchObject({ ok: false, brokenAtSeq: 7 });
    expect(v.ok ? '' : v.problem).toContain('the retention checkpoint at seq 7 is not signed');
    // The signer does not sign a head that goes through it either.
    await write(1);
    await signer.signNow();
    expect(lines().map((l) => l.seq)).toEqual([3, 7]);
    expect(contradictions).toEqual([[TENANT, 7]]);
  });

  it('accepts a real retention purge, signed history and all, once the retention period has passed', async () => {
    await write(2);
    await signer.signNow();
    await write(3);
    await signer.signNow();
    // The purge as retention does it, its AuditEvent included (in the same transaction); then time passes beyond
    // the retention period.
    const purge = await realPurge(new Date(Date.now() + DAY_MS));
    expect(purge).toMatchObject({ checkpointSeq: 5 });
    const later = new Date(Date.now() + 3 * DAY_MS);
    expect(await verified({ now: later, retentionDays: 2 })).toMatchObject({ ok: true, checkpoint: { seq: 5 } });
    expect(await verified({ retentionDays: 2 })).toMatchObject({ ok: false, brokenAtSeq: 5 });
  });
});
