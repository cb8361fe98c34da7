import fs from 'node:fs';
import pg from 'pg';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { verifyDueChains } from '../../src/audit/full-verify';
import { HeadSigner, openSignedHeads, type SignedHead } from '../../src/audit/signed-heads';
import { verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { openDb, type Db } from '../../src/kernel/db';
import { createLogger } from '../../src/kernel/logger';
import { migrate } from '../../src/kernel/migrate';
import { PRACTICE_AGB, PRACTICE_NAME } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import {
  cleanupTestEnv,
  dropSchema,
  namedPracticesRegistry,
  startTestApp,
  TEST_DATABASE_URL,
  type TestApp,
} from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const pause = () => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' });

/** Changes a row's content as someone with superuser rights could: the append-only trigger off, the hash left. */
async function tamper(schema: string, tenant: string, seq: number): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`SET search_path TO ${schema}`);
    await admin.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
    await admin.query(
      `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{outcome}', '"8"') WHERE tenant = $1 AND seq = $2`,
      [tenant, seq],
    );
    await admin.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
  } finally {
    await admin.end();
  }
}

describe('the scheduled full verification of the audit chains', () => {
  let app: TestApp;
  let auditor: ConsoleClient;

  beforeAll(async () => {
    app = await startTestApp({
      registry: namedPracticesRegistry(),
      env: { AUDIT_SIGN_INTERVAL_MS: '200', AUDIT_FULL_VERIFY_INTERVAL_MS: '1000' },
    });
    auditor = await openConsole(app, 'auditor');
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  /** The full verification gauges of the practice chain in one scrape, once both are there. */
  const gauges = async (): Promise<{ ok: number; at: number } | undefined> => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const ok = new RegExp(`^jeugdbrug_audit_full_verify_ok\\{tenant="${PRACTICE_AGB}"\\} (\\d+)`, 'm').exec(text);
    const at = new RegExp(
      `^jeugdbrug_audit_full_verify_timestamp_seconds\\{tenant="${PRACTICE_AGB}"\\} (\\S+)`,
      'm',
    ).exec(text);
    return ok && at ? { ok: Number(ok[1]), at: Number(at[1]) } : undefined;
  };

  const signedUpTo = async (seq: number): Promise<void> => {
    await waitFor(`a checkpoint signed at seq ${seq} or later`, async () => {
      const heads = (await app.rt.ctx.signedHeads.signer.file.history(PRACTICE_AGB)).heads as SignedHead[];
      return (heads.at(-1)?.seq ?? 0) >= seq;
    });
  };

  it('finds a row changed in the middle of a signed chain without anyone asking, and says so', async () => {
    for (let i = 0; i < 30; i++) {
      await app.rt.ctx.audit.append(PRACTICE_AGB, pause());
    }
    await app.rt.ctx.audit.flush();
    await signedUpTo(30);
    // Verified whole on schedule: no one asked for a verification.
    expect((await waitFor('a full verification', gauges)).ok).toBe(1);

    // The test holds the chain's claim meanwhile, as another worker verifying it would: the signer signs no chain a
    // verification found broken (audit-known-broken.test.ts), and the next one must not come before the signing.
    const claim = (until: string) =>
      app.rt.ctx.db.query(`UPDATE audit_full_verification SET claimed_until = ${until} WHERE tenant = $1`, [
        PRACTICE_AGB,
      ]);
    await claim("now() + interval '1 hour'");
    await tamper(app.testEnv.schema, PRACTICE_AGB, 12);
    // The chain grows and is signed on: the signer checks only the rows since its last checkpoint.
    for (let i = 0; i < 5; i++) {
      await app.rt.ctx.audit.append(PRACTICE_AGB, pause());
    }
    await app.rt.ctx.audit.flush();
    await signedUpTo(35);
    await claim('NULL');

    const broken = await waitFor('the full verification to find the changed row', async () => {
      const g = await gauges();
      return g?.ok === 0 ? g : undefined;
    });
    expect(broken.ok).toBe(0);
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^jeugdbrug_audit_verify_ok\\{tenant="${PRACTICE_AGB}"\\} 0$`, 'm'));

    const lines = fs
      .readFileSync(app.testEnv.logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'audit chain failed its scheduled full verification');
    expect(lines[0]).toMatchObject({ level: 'error', tenant: PRACTICE_AGB, brokenAtSeq: 12 });
    // Ids and the problem (a row and what does not match), nothing of the row's content.
    expect(Object.keys(lines[0]!).sort()).toEqual(
      ['brokenAtSeq', 'level', 'msg', 'ms', 'problem', 'rows', 'service', 'tenant', 'time'].sort(),
    );

    // The console's chain check says when the last full verification ran and what it found.
    const page = await (await auditor.get('/console/auditor/verify')).text();
    expect(page).toContain('Geplande volledige controle');
    // The chain by its practice's name, its AGB code beside it.
    expect(page).toMatch(
      new RegExp(`<td>${PRACTICE_NAME} \\(${PRACTICE_AGB}\\)</td>\\s*<td>[^<]+</td>\\s*<td>GEBROKEN bij rij 12: `),
    );
    // The problem in Dutch too, as the rest of the page (the API, the log and the CLI keep it in English).
    expect(page).toMatch(/GEBROKEN bij rij 12: de inhoud klopt niet met haar hash/);
    expect(page).not.toContain('does not match');
    const asked = await (await auditor.get(`/console/auditor/verify?tenant=${PRACTICE_AGB}`)).text();
    expect(asked).toContain(
      `Keten ${PRACTICE_NAME} (${PRACTICE_AGB}) is GEBROKEN bij rij 12: de inhoud klopt niet met haar hash`,
    );
    expect(asked).not.toContain('does not match');
  });
});

describe('one worker verifies a chain per interval, however many ask', () => {
  const schema = `t_fullverify_${process.pid}`;
  let db: Db;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 6, dataDir: '' });
    await migrate(db);
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('claims each due chain once among workers asking at once, and not again within the interval', async () => {
    const writer = new AuditWriter(db);
    for (const tenant of ['10000001', '10000002', '10000003']) {
      for (let i = 0; i < 4; i++) {
        await writer.append(tenant, pause());
      }
    }
    await writer.flush();
    const dataDir = fs.mkdtempSync(`${process.env.TMPDIR ?? '/tmp'}/full-verify-`);
    const { keys, file } = openSignedHeads(undefined, dataDir);
    const deps = { db, log: createLogger('silent'), keys, file, retentionDays: 1826 };
    const runs = await Promise.all([1, 2, 3].map(() => verifyDueChains(deps, 3_600_000)));
    const tenants = runs.flatMap((verdicts) => verdicts.map((v) => v.tenant)).sort();
    expect(tenants).toEqual(['10000001', '10000002', '10000003']);
    expect(runs.flat().every((v) => v.ok)).toBe(true);
    expect(await verifyDueChains(deps, 3_600_000)).toEqual([]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('verifies a chain in pieces to the same verdict as at once, a break in a later piece included', async () => {
    const tenant = '10000004';
    const writer = new AuditWriter(db);
    for (let i = 0; i < 23; i++) {
      await writer.append(tenant, pause());
    }
    await writer.flush();
    const whole = await verifyTenant(db, tenant);
    expect(whole).toMatchObject({ ok: true, rows: 23, headSeq: 23 });
    for (const segmentRows of [1, 5, 22, 23, 100]) {
      expect(await verifyTenant(db, tenant, { segmentRows })).toEqual(whole);
    }
    await tamper(schema, tenant, 17);
    const broken = await verifyTenant(db, tenant);
    expect(broken).toMatchObject({ ok: false, brokenAtSeq: 17 });
    for (const segmentRows of [1, 5, 16, 17, 100]) {
      expect(await verifyTenant(db, tenant, { segmentRows })).toEqual(broken);
    }
  });

  it('goes on to the chains after one it could not read, and leaves that one to the next run', async () => {
    const writer = new AuditWriter(db);
    for (const tenant of ['10000005', '10000006']) {
      await writer.append(tenant, pause());
    }
    await writer.flush();
    // Each read of 10000005's rows fails, as a statement timeout would; it comes before 10000006 in every run.
    const failing: Db = {
      ...db,
      query: (sql, params) =>
        /\bFROM audit_event\b/.test(sql) && params?.includes('10000005')
          ? Promise.reject(new Error('canceling statement due to statement timeout'))
          : db.query(sql, params),
    };
    const dataDir = fs.mkdtempSync(`${process.env.TMPDIR ?? '/tmp'}/full-verify-`);
    const { keys, file } = openSignedHeads(undefined, dataDir);
    const deps = { db: failing, log: createLogger('silent'), keys, file, retentionDays: 1826 };
    const verdicts = await verifyDueChains(deps, 3_600_000);
    // 10000004, written by the test before, is due too; 10000005 has no verdict.
    expect(verdicts.map((v) => v.tenant)).toEqual(['10000004', '10000006']);
    const [claim] = await db.query<{ claimed_until: Date | null; verified_at: Date | null }>(
      "SELECT claimed_until, verified_at FROM audit_full_verification WHERE tenant = '10000005'",
    );
    expect(claim).toEqual({ claimed_until: null, verified_at: null });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("reads every chain's head in one query per signing round, not one per chain", async () => {
    // The tests before left a chain their verification found broken, which the signer rightly leaves unsigned
    // (audit-known-broken.test.ts): here every chain is one to sign.
    await db.query('DELETE FROM audit_chain_integrity');
    const heads: string[] = [];
    const counting: Db = {
      ...db,
      query: (sql, params) => {
        if (/\bFROM audit_chain_head\b/.test(sql)) {
          heads.push(sql);
        }
        return db.query(sql, params);
      },
    };
    const dataDir = fs.mkdtempSync(`${process.env.TMPDIR ?? '/tmp'}/full-verify-`);
    const { keys, file } = openSignedHeads(undefined, dataDir);
    const signer = new HeadSigner(counting, keys, file, createLogger('silent'), { witnessTimeoutMs: 1000 });
    await signer.signNow();
    expect((await db.query('SELECT tenant FROM audit_chain_head')).length).toBeGreaterThan(2);
    expect(heads).toHaveLength(1);
    expect((await file.history()).heads.length).toBe((await db.query('SELECT tenant FROM audit_chain_head')).length);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
