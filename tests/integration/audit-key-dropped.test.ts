import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import type { SignedHead } from '../../src/audit/signed-heads';
import { runAuditCli } from '../../src/cli/audit-verify';
import { PRACTICE_AGB } from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

const pause = () => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' });

// A key rotation that dropped the old key (AUDIT_SIGNING_KEYS holding the new one alone) made every checkpoint the old
// key signed unreadable, and verification passed over them in silence: `ok: true` with the newest checkpoint the new
// key signed, as if the chain had been checked against its whole signed history.
describe('checkpoints signed with a key no longer configured', () => {
  let before: TestApp;
  let after: TestApp;
  let oldKid: string;
  let signedByOld: SignedHead[];

  beforeAll(async () => {
    before = await startTestApp({ env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000' } });
    for (let i = 0; i < 5; i++) {
      await before.rt.ctx.audit.append(PRACTICE_AGB, pause());
    }
    await before.rt.ctx.audit.flush();
    await before.rt.ctx.signedHeads.signer.signNow();
    oldKid = before.rt.ctx.signedHeads.keys.current.kid;
    signedByOld = [...(await before.rt.ctx.signedHeads.signer.file.history(PRACTICE_AGB)).heads];
    await before.close();
    // The new key alone: the old one dropped instead of kept after it.
    const { privateKey } = generateKeyPairSync('ed25519');
    const newKey = `k-new:${privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')}`;
    after = await startTestApp({
      env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000', AUDIT_SIGNING_KEYS: newKey },
      testEnv: before.testEnv,
    });
    await after.rt.ctx.audit.append(PRACTICE_AGB, pause());
    await after.rt.ctx.audit.flush();
    await after.rt.ctx.signedHeads.signer.signNow();
  });

  afterAll(async () => {
    await after.close();
    await cleanupTestEnv(after.testEnv);
  });

  it('are reported as not checked in the verify answer, not passed over', async () => {
    expect(signedByOld.length).toBeGreaterThan(0);
    const res = await after.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(await res.json()).toMatchObject({
      ok: true,
      signedCheckpoint: { kid: 'k-new' },
      checkpointsNotChecked: {
        signatureChecked: false,
        count: signedByOld.length,
        kids: [oldKid],
        fromSeq: signedByOld[0]!.seq,
        toSeq: signedByOld.at(-1)!.seq,
        problem: expect.stringContaining('not configured'),
      },
    });
  });

  it('are named in a warning by npm run audit-verify, and on the console’s verification', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { ...after.testEnv.env, AUDIT_SIGNING_KEYS: after.rt.ctx.config.AUDIT_SIGNING_KEYS ?? '' };
    expect(fs.existsSync(path.join(after.testEnv.dataDir, 'audit-checkpoints.ndjson'))).toBe(true);
    await runAuditCli(['verify', '--tenant', PRACTICE_AGB], { out: (l) => out.push(l), err: (l) => err.push(l), env });
    expect(JSON.parse(out[0]!)).toMatchObject({ checkpointsNotChecked: { kids: [oldKid], signatureChecked: false } });
    expect(err.join('\n')).toMatch(new RegExp(`warning: chain ${PRACTICE_AGB}: \\d+ signed checkpoint.*${oldKid}`));

    const auditor = await openConsole(after, 'auditor');
    const page = await (await auditor.get(`/console/auditor/verify?tenant=${PRACTICE_AGB}`)).text();
    // One checkpoint or more, as the signer made them: the sentence is in the singular or the plural.
    expect(page).toMatch(new RegExp(`(is|zijn) ondertekend met sleutel ${oldKid}, die niet meer is ingesteld`));
  });
});
