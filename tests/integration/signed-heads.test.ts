import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '@medplum/fhirtypes';
import pg from 'pg';
import { canonicalizeJcs, chainHashOfCanonical } from '../../src/audit/chain';
import { chainColumnsOf, columnsLine } from '../../src/audit/chain-columns';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { CHECKPOINT_FILE, HeadSigner, openSignedHeads, signHead, type SignedHead } from '../../src/audit/signed-heads';
import { AuditWriter } from '../../src/audit/writer';
import { openDb } from '../../src/kernel/db';
import { createLogger } from '../../src/kernel/logger';
import { migrate } from '../../src/kernel/migrate';
import { runAuditCli } from '../../src/cli/audit-verify';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, TEST_DATABASE_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface Verdict {
  ok: boolean;
  problem?: string;
  brokenAtSeq?: number;
  signedCheckpoint: { seq: number; hash: string; signedAt: string; kid: string } | null;
}

describe('signed chain heads: a log that cannot be rewritten unseen', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url, env: { AUDIT_SIGN_INTERVAL_MS: '200' } });
    for (let i = 0; i < 3; i++) {
      const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
      const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
      await waitFor('delivery', async () => {
        const v = (await (await app.request(`/his/v1/events/${id}`)).json()) as { state: string };
        return v.state === 'delivered';
      });
    }
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  async function verify(): Promise<Verdict> {
    const res = await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(res.status).toBe(200);
    return (await res.json()) as Verdict;
  }

  async function exportFile(name: string): Promise<string> {
    const res = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(res.status).toBe(200);
    const file = path.join(app.testEnv.dataDir, name);
    fs.writeFileSync(file, await res.text());
    return file;
  }

  async function keysFile(): Promise<string> {
    // Public keys, served without an API key: an offline verifier needs them.
    const res = await app.request('/audit/v1/keys', { key: null });
    expect(res.status).toBe(200);
    const jwks = (await res.json()) as { keys: { kty: string; crv: string; kid: string; d?: string }[] };
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(jwks.keys.some((k) => k.d !== undefined)).toBe(false);
    const file = path.join(app.testEnv.dataDir, 'keys.json');
    fs.writeFileSync(file, JSON.stringify(jwks));
    return file;
  }

  async function cli(
    args: string[],
    env: Record<string, string> = {},
  ): Promise<{ code: number; out: Record<string, unknown>; err: string }> {
    const lines: string[] = [];
    const errors: string[] = [];
    const code = await runAuditCli(args, { out: (l) => lines.push(l), err: (l) => errors.push(l), env });
    return { code, out: JSON.parse(lines[0] ?? '{}') as Record<string, unknown>, err: errors.join('\n') };
  }

  /** An export file's metadata line and rows, parsed. */
  function readExport(file: string): { meta: Record<string, unknown>; rows: { seq: number; hash: string }[] } {
    const [metaLine, ...rows] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return {
      meta: JSON.parse(metaLine!) as Record<string, unknown>,
      rows: rows.map((r) => JSON.parse(r) as { seq: number; hash: string }),
    };
  }

  function writeExport(name: string, meta: Record<string, unknown>, rows: readonly unknown[]): string {
    const file = path.join(app.testEnv.dataDir, name);
    fs.writeFileSync(file, [meta, ...rows].map((l) => JSON.stringify(l)).join('\n') + '\n');
    return file;
  }

  it('sets the verification gauges of every chain on a schedule, without anyone verifying', async () => {
    // No verification was asked for: the signer's round checks each chain against its newest signed checkpoint.
    const gauge = await waitFor('the scheduled check of the practice chain', async () => {
      const text = await (await fetch(`${app.url}/metrics`)).text();
      const ok = new RegExp(`^jeugdbrug_audit_verify_ok\\{tenant="${PRACTICE_AGB}"\\} (\\d+)$`, 'm').exec(text);
      const at = new RegExp(
        `^jeugdbrug_audit_verify_timestamp_seconds\\{tenant="${PRACTICE_AGB}"\\} (\\S+)$`,
        'm',
      ).exec(text);
      return ok && at ? { ok: Number(ok[1]), at: Number(at[1]) } : undefined;
    });
    expect(gauge.ok).toBe(1);
    expect(gauge.at).toBeGreaterThan(Date.now() / 1000 - 60);
    const [{ n } = { n: 0 }] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event WHERE 'audit_chain/' || tenant = ANY(entities)`,
    );
    expect(n).toBe(0);
  });

  it("an export's signed head verifies offline with the published key, and a forged one fails", async () => {
    const keys = await keysFile();
    const file = await exportFile('export.ndjson');
    const good = await cli(['verify-export', file, '--keys', keys]);
    expect(good.code).toBe(0);
    expect(good.out.signedHead).toMatchObject({ ok: true });

    // Forged: the head moved back one row (as if the last row had never existed) and its signature kept.
    const [metaLine, ...rows] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const meta = JSON.parse(metaLine!) as {
      toSeq: number;
      headHash: string;
      rows: number;
      signedHead: { seq: number; hash: string };
    };
    const last = JSON.parse(rows.at(-2)!) as { seq: number; hash: string };
    const cut = { ...meta, toSeq: last.seq, headHash: last.hash, rows: meta.rows - 1 };
    const forged = path.join(app.testEnv.dataDir, 'forged.ndjson');
    fs.writeFileSync(
      forged,
      [
        JSON.stringify({ ...cut, signedHead: { ...meta.signedHead, seq: last.seq, hash: last.hash } }),
        ...rows.slice(0, -1),
      ].join('\n') + '\n',
    );
    const bad = await cli(['verify-export', forged, '--keys', keys]);
    expect(bad.code).toBe(1);
    expect(bad.out.signedHead).toMatchObject({ ok: false, problem: expect.stringContaining('does not verify') });
    // The rows are a good chain, but the verdict is not ok: a reader of the JSON must not see "ok" here.
    expect(bad.out).toMatchObject({ ok: false, chainOk: true });

    // Without the key it cannot be re-signed; keeping the old signed head gives itself away too.
    fs.writeFileSync(forged, [JSON.stringify(cut), ...rows.slice(0, -1)].join('\n') + '\n');
    const unsigned = await cli(['verify-export', forged, '--keys', keys]);
    expect(unsigned.code).toBe(1);
    const stale = path.join(app.testEnv.dataDir, 'stale.ndjson');
    fs.writeFileSync(
      stale,
      [JSON.stringify({ ...cut, signedHead: meta.signedHead }), ...rows.slice(0, -1)].join('\n') + '\n',
    );
    expect((await cli(['verify-export', stale, '--keys', keys])).out.signedHead).toMatchObject({
      ok: false,
      problem: expect.stringContaining('another tenant, seq or hash'),
    });
  });

  it("an export's signature covers its start: rows cut from its start, the start re-linked, fail", async () => {
    const keys = await keysFile();
    const { meta, rows } = readExport(await exportFile('whole.ndjson'));
    expect(rows.length).toBeGreaterThan(3);
    expect(meta).toMatchObject({ fromSeq: 1, signedHead: { seq: meta.toSeq, hash: meta.headHash } });
    // The auditor's attack: drop rows 1 and 2, point the start at the hash of row 2 (which is in the file).
    const kept = rows.slice(2);
    const cut = { ...meta, fromSeq: kept[0]!.seq, prevHash: rows[1]!.hash, rows: kept.length };
    const rowsAlone = await cli(['verify-export', writeExport('cut.ndjson', cut, kept)]);
    expect(rowsAlone.out).toMatchObject({ ok: true });
    const checked = await cli(['verify-export', writeExport('cut.ndjson', cut, kept), '--keys', keys]);
    expect(checked.code).toBe(1);
    expect(checked.out).toMatchObject({ ok: false, chainOk: true, signedHead: { ok: false } });
    expect((checked.out.signedHead as { problem: string }).problem).toContain('does not verify');
    // Nor may the period or the chain's head it claims change: the whole metadata line is signed.
    for (const changed of [
      { from: '2026-01-01T00:00:00.000Z' },
      { chainHead: { seq: (meta.toSeq as number) + 5, hash: 'f'.repeat(64) } },
    ]) {
      const other = await cli([
        'verify-export',
        writeExport('other.ndjson', { ...meta, ...changed }, rows),
        '--keys',
        keys,
      ]);
      expect(other).toMatchObject({ code: 1, out: { ok: false, signedHead: { ok: false } } });
    }
    // The file as exported verifies, and says what its signature covers.
    const whole = await cli(['verify-export', writeExport('whole.ndjson', meta, rows), '--keys', keys]);
    expect(whole).toMatchObject({
      code: 0,
      out: { ok: true, signatureChecked: true, signedHead: { ok: true, covers: 'export' } },
    });
    expect(whole.err).toBe('');
    // The CSV export's trailer carries the same signed metadata.
    const res = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}&format=csv`, { key: 'auditor' });
    const csv = path.join(app.testEnv.dataDir, 'whole.csv');
    fs.writeFileSync(csv, await res.text());
    expect(await cli(['verify-export', csv, '--keys', keys])).toMatchObject({
      code: 0,
      out: { ok: true, signedHead: { ok: true, covers: 'export' } },
    });
    fs.writeFileSync(csv, fs.readFileSync(csv, 'utf8').replace('""from"":null', '""from"":""2026-01-01""'));
    expect(await cli(['verify-export', csv, '--keys', keys])).toMatchObject({
      code: 1,
      out: { signedHead: { ok: false } },
    });
  });

  it('an export made before exports signed their start (version 2) verifies only when asked to, its end alone signed', async () => {
    const keys = await keysFile();
    const { meta, rows } = readExport(await exportFile('v2.ndjson'));
    // As the build before made it: version 2, the head signature over (tenant, toSeq, headHash).
    const old = {
      ...meta,
      version: 2,
      signedHead: signHead(app.rt.ctx.signedHeads.keys.current, {
        tenant: PRACTICE_AGB,
        seq: meta.toSeq as number,
        hash: meta.headHash as string,
      }),
    };
    // Review: a file labelled version 2 is checked against the text every signed checkpoint signs, so anyone holding a
    // checkpoint could cut rows from a v3 export's start and label it v2. Refused unless the auditor accepts it.
    const refused = await cli(['verify-export', writeExport('v2.ndjson', old, rows), '--keys', keys]);
    expect(refused).toMatchObject({
      code: 1,
      out: { ok: false, chainOk: true, signedHead: { ok: true, covers: 'end' } },
    });
    expect(refused.err).toContain('--accept-old-export');
    const cutOld = { ...old, fromSeq: rows[2]!.seq, prevHash: rows[1]!.hash, rows: rows.length - 2 };
    const cutRefused = await cli(['verify-export', writeExport('v2cut.ndjson', cutOld, rows.slice(2)), '--keys', keys]);
    expect(cutRefused).toMatchObject({ code: 1, out: { ok: false } });
    const verdict = await cli([
      'verify-export',
      writeExport('v2.ndjson', old, rows),
      '--keys',
      keys,
      '--accept-old-export',
    ]);
    expect(verdict).toMatchObject({ code: 0, out: { ok: true, signedHead: { ok: true, covers: 'end' } } });
    expect(verdict.err).toContain('covers its end only');
  });

  it('verify-export without --keys says the signature was not checked, and warns', async () => {
    const { meta, rows } = readExport(await exportFile('unchecked.ndjson'));
    const unsigned = { ...meta, signedHead: undefined };
    const verdict = await cli(['verify-export', writeExport('unchecked.ndjson', unsigned, rows)]);
    expect(verdict.out).toMatchObject({ ok: true, signatureChecked: false });
    expect(verdict.err).toMatch(/^audit-verify: warning: .*not checked.*--keys/);
  });

  it('verify without a checkpoint file says signedCheckpoint: null, and warns', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-no-checkpoints-'));
    try {
      const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: app.testEnv.schema, DATA_DIR: empty };
      const verdict = await cli(['verify', '--tenant', PRACTICE_AGB], env);
      // Not checked against anything signed: not called verified (xaudit finding 9), unless --hash-chain-only.
      expect(verdict).toMatchObject({ code: 3, out: { ok: null, hashChainOk: true, signedCheckpoint: null } });
      expect(verdict.err).toMatch(/^audit-verify: warning: no signed checkpoints .*unverified/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it("GET /audit/v1/verify names the checkpoint file by its name, not the server's path", async () => {
    const v = await waitFor('a signed checkpoint', async () => {
      const verdict = await verify();
      return verdict.signedCheckpoint ? verdict : undefined;
    });
    expect(v.signedCheckpoint).toMatchObject({ where: CHECKPOINT_FILE });
  });

  it('reports a chain rewritten consistently by a superuser, naming the signed checkpoint it contradicts', async () => {
    const checkpoints = path.join(app.testEnv.dataDir, CHECKPOINT_FILE);
    const head = await waitFor('a signed checkpoint of the current head', async () => {
      const v = await verify();
      return v.ok && v.signedCheckpoint ? v : undefined;
    });
    expect(fs.readFileSync(checkpoints, 'utf8')).toContain(`"tenant":"${PRACTICE_AGB}"`);
    expect(head.signedCheckpoint?.kid).toMatch(/^k\d{8}-[0-9a-f]{6}$/);
    // Signing stops (its last round signs the head once more), as an attacker would wait for: what is on file is
    // what was signed before the rewrite.
    await app.rt.ctx.signedHeads.signer.stop();
    const signed = (await verify()).signedCheckpoint!;

    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`SET search_path TO ${app.testEnv.schema}`);
      await admin.query('BEGIN');
      // A superuser can switch the append-only triggers off for the session.
      await admin.query("SET LOCAL session_replication_role = 'replica'");
      const rows = (
        await admin.query<{ seq: string; resource: { outcomeDesc?: string }; prev_hash: string }>(
          'SELECT seq, resource::json AS resource, prev_hash FROM audit_event WHERE tenant = $1 ORDER BY seq',
          [PRACTICE_AGB],
        )
      ).rows;
      const k = 2;
      let prev = rows[k - 1]!.prev_hash;
      for (const row of rows.slice(k - 1)) {
        const seq = Number(row.seq);
        const resource = seq === k ? { ...row.resource, outcomeDesc: 'rewritten' } : row.resource;
        // By the documented recipe: chain format 2, the canonical text stored as hashed.
        const canonical = canonicalizeJcs(resource);
        const hash = chainHashOfCanonical(prev, seq, canonical, columnsLine(chainColumnsOf(resource as AuditEvent)));
        await admin.query(
          'UPDATE audit_event SET resource = $3, prev_hash = $4, hash = $5 WHERE tenant = $1 AND seq = $2',
          [PRACTICE_AGB, seq, canonical, prev, hash],
        );
        prev = hash;
      }
      await admin.query('UPDATE audit_chain_head SET hash = $2 WHERE tenant = $1', [PRACTICE_AGB, prev]);
      await admin.query('COMMIT');
    } finally {
      await admin.end();
    }

    const after = await verify();
    expect(after.ok).toBe(false);
    // Named where the changed row lies (xaudit finding 6): after the newest checkpoint still intact, up to the oldest
    // one contradicted (the newest contradicted one pointed far past the row changed).
    const history = (await app.rt.ctx.signedHeads.signer.file.history(PRACTICE_AGB)).heads;
    const oldest = history.find((h) => h.seq >= 2)!;
    const intact = history.filter((h) => h.seq < 2).at(-1);
    expect(after.brokenAtSeq).toBe(oldest.seq);
    expect(after).toMatchObject(oldest.seq > (intact?.seq ?? 0) + 1 ? { brokenFromSeq: (intact?.seq ?? 0) + 1 } : {});
    expect(after.signedCheckpoint).toMatchObject({ seq: oldest.seq, hash: oldest.hash, kid: oldest.kid });
    expect(after.problem).toContain(`signed at ${oldest.signedAt} with key ${oldest.kid}`);
    expect(after.problem).toContain('rewritten');
    // Nor does an export sign the rewritten chain's end: it does not extend the signed checkpoint. A 409 says so,
    // rather than a file whose signed head would vouch for the rewrite.
    const refused = await app.request(`/audit/v1/export?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [
        {
          code: 'conflict',
          expression: ['tenant'],
          details: {
            text: expect.stringContaining(`signed at ${signed.signedAt} with key ${signed.kid} (seq ${signed.seq}`),
          },
        },
      ],
    });
    // The refused export is recorded too, as a read that failed (outcome 8).
    const [refusal] = await app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_event WHERE tenant = $1 AND outcome = '8' AND 'audit_chain/' || $1 = ANY(entities)
         AND resource LIKE '%not exported: the chain contradicts its signed checkpoint%'`,
      [PRACTICE_AGB],
    );
    expect(refusal?.n).toBe(1);
    // The CLI says the same with a checkpoint file given on the command line (a witness's copy) and the public keys.
    const witnessCopy = path.join(app.testEnv.dataDir, 'witness-copy.ndjson');
    fs.copyFileSync(checkpoints, witnessCopy);
    fs.rmSync(checkpoints);
    const keys = await keysFile();
    const env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: app.testEnv.schema, DATA_DIR: app.testEnv.dataDir };
    const byCli = await cli(['verify', '--tenant', PRACTICE_AGB, '--checkpoints', witnessCopy, '--keys', keys], env);
    expect(byCli.code).toBe(1);
    expect(byCli.out).toMatchObject({
      ok: false,
      brokenAtSeq: oldest.seq,
      signedCheckpoint: { where: witnessCopy },
    });
    await expect(
      cli(['verify', '--tenant', PRACTICE_AGB, '--checkpoints', `${witnessCopy}.gone`], env),
    ).rejects.toThrow('not found');
  });
});

describe('the witness', () => {
  it('receives the signed checkpoints, retried with back-off until it answers 2xx', async () => {
    const schema = `t_witness_${Date.now().toString(36)}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-witness-'));
    const db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir });
    const received: { checkpoints: SignedHead[] }[] = [];
    let answers = [503, 500];
    const witness = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const status = answers.shift() ?? 204;
        if (status < 300) {
          received.push(JSON.parse(body) as { checkpoints: SignedHead[] });
        }
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => witness.listen(0, '127.0.0.1', r));
    try {
      await migrate(db);
      const writer = new AuditWriter(db);
      await writer.append(
        '01234567',
        operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/x' }),
      );
      const { keys, file } = openSignedHeads(undefined, dataDir);
      const signer = new HeadSigner(db, keys, file, createLogger('silent'), {
        witnessUrl: `http://127.0.0.1:${(witness.address() as AddressInfo).port}/checkpoints`,
        witnessTimeoutMs: 2000,
        witnessRetryBaseMs: 20,
      });
      await signer.signNow();
      expect(received).toEqual([]);
      answers = [500];
      await waitFor('the witness to accept', async () => {
        await signer.signNow();
        return received.length > 0;
      });
      const [checkpoint] = received[0]!.checkpoints;
      expect(checkpoint).toMatchObject({ tenant: '01234567', seq: 1, kid: keys.current.kid });
      expect((await file.latest('01234567')).head).toEqual(checkpoint);
    } finally {
      witness.close();
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * The operator reading a stopped process's log must see that its last heads were signed: a stop that ends without it
 * (SHUTDOWN_TIMEOUT_MS, a kill) leaves the rows since the last round unsigned until another process signs them.
 */
describe('signing at stop', () => {
  it('logs how many chain heads the last round signed', async () => {
    const schema = `t_stop_sign_${Date.now().toString(36)}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-stop-sign-'));
    const db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir });
    const lines: { msg: string; signed?: number; level: string }[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    try {
      await migrate(db);
      const writer = new AuditWriter(db);
      for (const tenant of ['01234567', '07654321']) {
        await writer.append(tenant, operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/x' }));
      }
      const { keys, file } = openSignedHeads(undefined, dataDir);
      const signer = new HeadSigner(db, keys, file, log, { witnessTimeoutMs: 2000 }).start(60_000);
      await signer.stop();
      expect(lines.filter((l) => l.msg === 'audit chain heads signed at stop')).toEqual([
        expect.objectContaining({ signed: 2, level: 'info' }),
      ]);
      expect((await file.latest('07654321')).head).toMatchObject({ seq: 1 });
      // A second stop finds every head signed already, and says so.
      await new HeadSigner(db, keys, file, log, { witnessTimeoutMs: 2000 }).stop();
      expect(lines.filter((l) => l.msg === 'audit chain heads signed at stop').map((l) => l.signed)).toEqual([2, 0]);
    } finally {
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await db.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
