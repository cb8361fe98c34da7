import fs from 'node:fs';
import path from 'node:path';
import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { runAuditCli } from '../../src/cli/audit-verify';
import { buildDestination, PRACTICE_AGB } from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';
import { namedPracticesRegistry } from '../helpers/test-runtime';

// The verify and export forms offered every chain in scope, the destinations' chains (`destination/<id>`: pauses,
// resumes, what municipalities sent) among them, and then refused those as "not an AGB code", as did the API: such a
// chain could be verified only with all the others and not exported at all. Every chain listed can be asked now.
describe('every audit chain the console offers can be verified and exported, in the console and the API', () => {
  // The destination configured: its chain is named by its municipality (console-chain-names.test.ts).
  const h = useConsoleApp(['auditor', 'practice'], {
    registry: namedPracticesRegistry([buildDestination('http://127.0.0.1:1')]),
  });
  const c = h.consoles;
  const chain = 'destination/gm0226';

  beforeAll(async () => {
    for (const tenant of [chain, PRACTICE_AGB]) {
      await h.app.rt.ctx.audit.append(
        tenant,
        operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' }),
      );
    }
    await h.app.rt.ctx.audit.flush();
  });

  const options = (page: string) =>
    [...(/<select name="tenant"[^>]*>([\s\S]*?)<\/select>/.exec(page)?.[1] ?? '').matchAll(/value="([^"]*)"/g)]
      .map((m) => m[1])
      .filter((v) => v !== '');

  it('verifies a destination chain on its own, in the console and the API', async () => {
    const form = await (await c.auditor.get('/console/auditor/verify')).text();
    expect(options(form)).toContain(chain);
    const res = await c.auditor.get(`/console/auditor/verify?tenant=${encodeURIComponent(chain)}`);
    expect(res.status).toBe(200);
    // Nothing signed yet in this test: consistent, and said to be unverified rather than intact.
    expect(await res.text()).toMatch(/Keten Overbetuwe \(destination\/gm0226\) is intern consistent \(\d+ rijen/);

    const api = await h.app.request(`/audit/v1/verify?tenant=${encodeURIComponent(chain)}`, { key: 'auditor' });
    expect(api.status).toBe(200);
    expect(await api.json()).toEqual(expect.objectContaining({ ok: true, tenant: chain }));
  });

  it('exports a destination chain, with a file name that is one', async () => {
    const form = await (await c.auditor.get('/console/auditor/export')).text();
    expect(options(form)).toContain(chain);
    const res = await c.auditor.get(`/console/auditor/export/download?tenant=${encodeURIComponent(chain)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="audit-destination-gm0226-\d+-\d+\.ndjson"$/,
    );
    const text = await res.text();
    expect(text.trim().split('\n').length).toBeGreaterThan(1);
    // Verifiable offline, as any chain's export.
    const file = path.join(h.app.testEnv.dataDir, 'destination-export.ndjson');
    fs.writeFileSync(file, text);
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l), env: {} };
    expect(await runAuditCli(['verify-export', file], io)).toBe(0);
    expect(JSON.parse(out.at(-1) ?? '{}')).toEqual(expect.objectContaining({ ok: true }));
  });

  it('still refuses what is no chain, and a chain outside the caller’s scope', async () => {
    for (const wrong of ['abc', 'destination/', 'destination/GM 0226', 'destination/../system']) {
      const res = await h.app.request(`/audit/v1/verify?tenant=${encodeURIComponent(wrong)}`, { key: 'auditor' });
      expect(res.status).toBe(400);
    }
    const practice = await h.app.request(`/audit/v1/verify?tenant=${encodeURIComponent(chain)}`, { key: 'practice' });
    expect(practice.status).toBe(403);
  });
});
