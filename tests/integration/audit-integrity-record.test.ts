import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { chainIntegrity, recordChainIntegrity, wholeVerificationStart } from '../../src/audit/chain-integrity';
import type { SignedHead } from '../../src/audit/signed-heads';
import { tryGetChainHead } from '../../src/audit/verify';
import { runAuditCli } from '../../src/cli/audit-verify';
import { changeRowContent, restoreRowContent, setRowHash, verifyOnSchedule } from '../helpers/audit-tamper';
import { PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

const pause = () => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' });
const TAMPERED = 3;

/** A product process without workers (no schedules unless the test runs one), signing only when told. */
const startApi = (testEnv?: TestApp['testEnv']) =>
  startTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' }, ...(testEnv ? { testEnv } : {}) });

async function grow(app: TestApp, rows: number): Promise<void> {
  for (let i = 0; i < rows; i++) {
    await app.rt.ctx.audit.append(PRACTICE_AGB, pause());
  }
  await app.rt.ctx.audit.flush();
}

const known = async (app: TestApp) => (await chainIntegrity(app.rt.ctx.db, [PRACTICE_AGB])).get(PRACTICE_AGB);
const newestSigned = async (app: TestApp): Promise<SignedHead | undefined> =>
  ((await app.rt.ctx.signedHeads.signer.file.history(PRACTICE_AGB)).heads as SignedHead[]).at(-1);
const headSeq = async (app: TestApp): Promise<number> => (await tryGetChainHead(app.rt.ctx.db, PRACTICE_AGB))?.seq ?? 0;

/** A process with a chain of ten rows, signed, for the tests of a describe. */
function useSignedChain(): { readonly app: TestApp } {
  const chain = {} as { app: TestApp };
  beforeAll(async () => {
    chain.app = await startApi();
    await grow(chain.app, 10);
    await chain.app.rt.ctx.signedHeads.signer.signNow();
  });
  afterAll(async () => {
    await chain.app.close();
    await cleanupTestEnv(chain.app.testEnv);
  });
  return chain;
}

// The record of a chain's integrity kept the first finder (and its row) but took a later finder's problem: a chain the
// scheduled verification found changed at row 3 read, after the signer's check found its head cut off, "found by the
// scheduled full verification, row 3: its head does not extend the checkpoint", which neither check said.
describe('what is recorded of a chain found broken twice', () => {
  const chain = useSignedChain();
  let app: TestApp;
  beforeAll(() => {
    app = chain.app;
  });

  it('is the first finding whole: its finder, row and problem together, not a later check’s problem', async () => {
    await changeRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED);
    await grow(app, 1);
    await app.rt.ctx.signedHeads.signer.signNow();
    await verifyOnSchedule(app);
    const first = await known(app);
    expect(first).toMatchObject({
      ok: false,
      foundBy: 'full-verify',
      brokenAtSeq: TAMPERED,
      problem: 'content does not match its hash',
    });
    // The signer then finds the newest signed row rewritten.
    const signed = (await newestSigned(app))!;
    await setRowHash(app.testEnv.schema, PRACTICE_AGB, signed.seq);
    await recordChainIntegrity(
      app.rt.ctx.db,
      PRACTICE_AGB,
      { ok: false, problem: `its head (seq ${signed.seq}) does not extend the checkpoint` },
      'head-check',
    );
    const later = await known(app);
    expect(later).toMatchObject({
      ok: false,
      foundBy: 'full-verify',
      brokenAtSeq: TAMPERED,
      problem: 'content does not match its hash',
      brokenSince: first!.brokenSince,
    });
    expect(later!.checkedAt.getTime()).toBeGreaterThanOrEqual(first!.checkedAt.getTime());
  });
});

// `npm run audit-verify -- verify` found a chain broken and printed it, but recorded nothing: the running product
// went on signing the chain and the auditor console said nothing, as if no one had looked.
describe('a verification from the command line', () => {
  const chain = useSignedChain();
  let app: TestApp;
  let original: string;
  const cli = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runAuditCli(args, { out: (l) => out.push(l), err: (l) => err.push(l), env: app.testEnv.env });
    return { code, out: out.map((l) => JSON.parse(l) as Record<string, unknown>), err: err.join('\n') };
  };
  beforeAll(() => {
    app = chain.app;
  });

  it('records a chain it finds broken for every process: no process signs it', async () => {
    original = await changeRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED);
    const run = await cli(['verify', '--tenant', PRACTICE_AGB]);
    expect(run.code).toBe(1);
    expect(run.out[0]).toMatchObject({ ok: false, brokenAtSeq: TAMPERED });
    expect(await known(app)).toMatchObject({ ok: false, foundBy: 'verify', brokenAtSeq: TAMPERED });
    const signedBefore = (await newestSigned(app))!.seq;
    await grow(app, 1);
    await app.rt.ctx.signedHeads.signer.signNow();
    expect((await newestSigned(app))!.seq).toBe(signedBefore);
  });

  // `verify --checkpoints <an empty file>` found the chain intact by the hash chain alone (no signed checkpoint in
  // that file) and cleared the break, and the signer signed the chain again: a consistent rewrite passes that.
  it('clears no break by an intact verdict against checkpoints or keys the caller gave', async () => {
    await restoreRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED, original);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-cli-checkpoints-'));
    try {
      const empty = path.join(dir, 'empty.ndjson');
      fs.writeFileSync(empty, '');
      const jwks = path.join(dir, 'other.jwks.json');
      const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
      fs.writeFileSync(jwks, JSON.stringify({ keys: [{ ...other, kid: 'not-the-products', alg: 'EdDSA' }] }));
      for (const args of [
        ['--checkpoints', empty],
        ['--keys', jwks],
      ]) {
        const run = await cli(['verify', '--tenant', PRACTICE_AGB, ...args]);
        expect(run.out[0]).toMatchObject({ ok: true, signedCheckpoint: null });
        expect(await known(app)).toMatchObject({ ok: false, foundBy: 'verify', brokenAtSeq: TAMPERED });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records a chain it finds intact against the signed checkpoints: signed again', async () => {
    await restoreRowContent(app.testEnv.schema, PRACTICE_AGB, TAMPERED, original);
    const run = await cli(['verify']);
    expect(run.code).toBe(0);
    expect(await known(app)).toMatchObject({ ok: true, foundBy: 'verify' });
    await app.rt.ctx.signedHeads.signer.signNow();
    expect((await newestSigned(app))!.seq).toBe(await headSeq(app));
  });
});

// Two processes: one's verification read the chain before another's check found it broken, and its intact verdict,
// recorded after, cleared that finding; the next round found it again, and so on. Only a whole verification begun
// after a chain was found broken clears it.
describe('a chain found broken by one process while another verifies it', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startApi();
    b = await startApi(a.testEnv);
    await grow(a, 10);
    await a.rt.ctx.signedHeads.signer.signNow();
  });
  afterAll(async () => {
    await b.close();
    await a.close();
    await cleanupTestEnv(a.testEnv);
  });

  it('stays broken when the other’s verification began before the finding, until one begun after finds it intact', async () => {
    // A's whole verification begins and reads the chain, intact then.
    const whole = await wholeVerificationStart(a.rt.ctx.db);
    const before = await a.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(await before.json()).toMatchObject({ ok: true });
    // Meanwhile the newest signed row is rewritten, and B's signer finds it.
    const signed = (await newestSigned(b))!;
    const hash = await setRowHash(a.testEnv.schema, PRACTICE_AGB, signed.seq);
    await grow(a, 1);
    await b.rt.ctx.signedHeads.signer.signNow();
    expect(await known(a)).toMatchObject({ ok: false, foundBy: 'head-check' });
    // A's verdict from the rows it read before, recorded now, does not clear it.
    const checked = { seq: signed.seq, hash: signed.hash, signedAt: signed.signedAt, kid: signed.kid, where: 'x' };
    await recordChainIntegrity(a.rt.ctx.db, PRACTICE_AGB, { ok: true, signedCheckpoint: checked }, 'verify', { whole });
    expect(await known(a)).toMatchObject({ ok: false, foundBy: 'head-check' });
    // Rounds of both signers leave it broken, and sign nothing.
    for (let round = 0; round < 2; round++) {
      await grow(b, 1);
      await a.rt.ctx.signedHeads.signer.signNow();
      await b.rt.ctx.signedHeads.signer.signNow();
      expect(await known(b)).toMatchObject({ ok: false, foundBy: 'head-check' });
      expect((await newestSigned(a))!.seq).toBe(signed.seq);
    }
    // Put right, a verification begun after the finding clears it only when checked against a signed checkpoint,
    // every one of them: intact by the hash chain alone, or with checkpoints of a key not configured left unchecked,
    // it clears nothing (the API's and the scheduled verification's verdicts, with AUDIT_SIGNING_KEYS short a key).
    await setRowHash(a.testEnv.schema, PRACTICE_AGB, signed.seq, hash);
    const notChecked = { count: 1, fromSeq: 1, toSeq: signed.seq, kids: ['dropped'] };
    for (const unvouched of [
      { ok: true, signedCheckpoint: null },
      { ok: true, signedCheckpoint: checked, checkpointsNotChecked: notChecked },
    ]) {
      const after = await wholeVerificationStart(a.rt.ctx.db);
      await recordChainIntegrity(a.rt.ctx.db, PRACTICE_AGB, unvouched, 'full-verify', { whole: after });
      expect(await known(a)).toMatchObject({ ok: false, foundBy: 'head-check' });
    }
    expect(await (await b.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' })).json()).toMatchObject(
      {
        ok: true,
      },
    );
    expect(await known(a)).toMatchObject({ ok: true });
    await a.rt.ctx.signedHeads.signer.signNow();
    expect((await newestSigned(b))!.seq).toBe(await headSeq(b));
  });
});
