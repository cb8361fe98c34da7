import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import {
  checkSignedCheckpoint,
  CheckpointFile,
  HeadSigner,
  openSignedHeads,
  publicKeysOf,
  signHead,
  type SignedHead,
} from '../../src/audit/signed-heads';
import { tryGetChainHead, verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { runAuditCli } from '../../src/cli/audit-verify';
import type { Db } from '../../src/kernel/db';
import { createLogger } from '../../src/kernel/logger';
import { useMigratedSchema } from '../helpers/empty-schema';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';

const TENANT = '07654322';
const DAY_MS = 24 * 3600 * 1000;

describe('the checkpoint file: one line per moved head, read a piece at a time, compacted per day', () => {
  let schema: string;
  let dataDir: string;
  let db: Db;
  let signed: ReturnType<typeof openSignedHeads>;

  const event = (n: number) => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: `destination/${n}` });
  async function write(n: number): Promise<void> {
    const writer = new AuditWriter(db);
    for (let i = 0; i < n; i++) {
      await writer.append(TENANT, event(i));
    }
  }
  const lines = (file = signed.file.file): SignedHead[] =>
    fs.existsSync(file)
      ? fs
          .readFileSync(file, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as SignedHead)
      : [];
  /** Another process on the same DATA_DIR and database: its own view of the file, its own signer. */
  function otherProcess(): HeadSigner {
    const own = openSignedHeads(undefined, dataDir);
    return new HeadSigner(db, own.keys, own.file, createLogger('silent'), { witnessTimeoutMs: 1000 });
  }

  // Migrated once for the file; each test starts from the empty schema a fresh migration leaves.
  const migrated = useMigratedSchema('cpfile', 6);

  beforeEach(() => {
    ({ schema, db } = migrated);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-cpfile-'));
    signed = openSignedHeads(undefined, dataDir);
  });

  afterEach(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('three processes that sign at once write one checkpoint per moved head, not three', async () => {
    const signers = [otherProcess().start(60_000), otherProcess().start(60_000), otherProcess().start(60_000)];
    try {
      await write(3);
      await Promise.all(signers.map((s) => s.signNow()));
      expect(lines().map((l) => l.seq)).toEqual([3]);
      // The head moves: the process that signed it last signs it again; the others leave it to that one while its
      // signature is younger than the interval.
      await write(2);
      await Promise.all(signers.map((s) => s.signNow()));
      await Promise.all(signers.map((s) => s.signNow()));
      expect(lines().map((l) => l.seq)).toEqual([3, 5]);
    } finally {
      // Shutdown signs once more, but not a head already on file.
      await Promise.all(signers.map((s) => s.stop()));
    }
    expect(lines().map((l) => l.seq)).toEqual([3, 5]);
  });

  it('reads only the bytes appended since its last read, and verifies only those lines', async () => {
    const head = { tenant: TENANT, seq: 1, hash: 'a'.repeat(64) };
    signed.file.append(Array.from({ length: 50 }, (_, i) => signHead(signed.keys.current, { ...head, seq: i + 1 })));
    const reader = new CheckpointFile(signed.file.file, publicKeysOf(signed.keys));
    expect((await reader.history(TENANT)).heads).toHaveLength(50);
    const first = { lines: reader.linesRead, bytes: reader.bytesRead };
    expect(first).toEqual({ lines: 50, bytes: fs.statSync(signed.file.file).size });
    signed.file.append([51, 52, 53].map((seq) => signHead(signed.keys.current, { ...head, seq })));
    const { heads } = await reader.history(TENANT);
    expect(heads.map((h) => h.seq).slice(-3)).toEqual([51, 52, 53]);
    expect(reader.linesRead - first.lines).toBe(3);
    expect(reader.bytesRead).toBe(fs.statSync(signed.file.file).size);
    // Nothing new: nothing read.
    await reader.history(TENANT);
    expect(reader.linesRead - first.lines).toBe(3);
  });

  it('reads and compacts a large file without holding the event loop for long', async () => {
    // As a file from before this release holds them: signed yesterday, heads the database does not have (so the
    // compaction keeps every one of them).
    const head = { tenant: TENANT, seq: 1, hash: 'b'.repeat(64) };
    const yesterday = new Date(Date.now() - DAY_MS);
    const many = Array.from({ length: 10_000 }, (_, i) =>
      signHead(signed.keys.current, { ...head, seq: i + 1 }, yesterday),
    );
    signed.file.append(many);
    const reader = new CheckpointFile(signed.file.file, publicKeysOf(signed.keys));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    // The monitor's timer must have started: a loop blocked before its first tick records nothing.
    await new Promise((resolve) => setTimeout(resolve, 30));
    try {
      expect((await reader.history(TENANT)).heads).toHaveLength(10_000);
      expect(await reader.compact(db)).toEqual({ archived: 10_000, dropped: 0 });
      await new Promise((resolve) => setTimeout(resolve, 30));
    } finally {
      delay.disable();
    }
    // Verifying 10,000 signatures in one go holds the loop for seconds (1.5 s here with readFileSync); a piece at a
    // time, a few tens of ms at most. The compaction, too, works in time linear in the lines.
    expect(delay.max / 1e6).toBeLessThan(500);
    expect((await reader.history(TENANT)).heads).toHaveLength(10_000);
  });

  it("moves earlier days' checkpoints into monthly archives, one per chain and day, and verifies as before", async () => {
    const now = new Date();
    const yesterday = new Date(now.getTime() - DAY_MS);
    const month = (d: Date) => d.toISOString().slice(0, 7);
    const at = async (when: Date) =>
      signHead(signed.keys.current, { tenant: TENANT, ...(await tryGetChainHead(db, TENANT))! }, when);
    await write(2);
    const y1 = await at(new Date(yesterday.getTime() - 1000));
    await write(2);
    const y2 = await at(yesterday);
    await write(2);
    const t1 = await at(now);
    signed.file.append([y1, y2, y2, t1]);
    const before = await checkSignedCheckpoint(
      db,
      await verifyTenant(db, TENANT),
      publicKeysOf(signed.keys),
      signed.file,
      {
        retentionDays: 1826,
      },
    );
    expect(before).toMatchObject({ ok: true, signedCheckpoint: { seq: 6 } });

    // Another process's view, read before the compaction.
    const other = new CheckpointFile(signed.file.file, publicKeysOf(signed.keys));
    expect((await other.history(TENANT)).heads.map((h) => h.seq)).toEqual([2, 4, 6]);
    // The same head twice (two processes signing it, before this release) is one checkpoint.
    expect(await signed.file.compact(db, now)).toEqual({ archived: 1, dropped: 1 });
    const archive = path.join(dataDir, `audit-checkpoints-${month(yesterday)}.ndjson`);
    expect(lines(archive).map((l) => l.seq)).toEqual([4]);
    expect(lines().map((l) => l.seq)).toEqual([6]);
    // It follows: the file was replaced (read again from its start), the archive is new.
    expect((await other.history(TENANT)).heads.map((h) => h.seq)).toEqual([4, 6]);
    expect((await signed.file.history(TENANT)).heads.map((h) => h.seq)).toEqual([4, 6]);
    // Nothing left to compact.
    expect(await signed.file.compact(db, now)).toBeUndefined();

    // A rewrite before the archived checkpoint is still found, by the API's view and by the CLI from DATA_DIR.
    await db.transaction(async (tx) => {
      await tx.query("SET LOCAL session_replication_role = 'replica'");
      await tx.query('UPDATE audit_event SET hash = $3 WHERE tenant = $1 AND seq = $2', [TENANT, 4, 'c'.repeat(64)]);
    });
    const out: string[] = [];
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema, DATA_DIR: dataDir };
    const code = await runAuditCli(['verify', '--tenant', TENANT], { out: (l) => out.push(l), err: () => {}, env });
    expect(code).toBe(1);
    expect(JSON.parse(out[0]!)).toMatchObject({ ok: false, brokenAtSeq: 4 });
  });

  it('keeps every checkpoint of a day whose last one the database does not show extending the others', async () => {
    const yesterday = new Date(Date.now() - DAY_MS);
    await write(3);
    const y1 = signHead(signed.keys.current, { tenant: TENANT, ...(await tryGetChainHead(db, TENANT))! }, yesterday);
    // A head that does not extend the first (another hash at seq 5): evidence that must stay.
    const y2 = signHead(signed.keys.current, { tenant: TENANT, seq: 5, hash: 'd'.repeat(64) }, yesterday);
    signed.file.append([y1, y2]);
    expect(await signed.file.compact(db)).toEqual({ archived: 2, dropped: 0 });
    expect((await signed.file.history(TENANT)).heads.map((h) => h.seq)).toEqual([3, 5]);
  });
});
