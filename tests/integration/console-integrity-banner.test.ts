import { operatorAction, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { listChainTenants } from '../../src/audit/verify';
import { changeRowContent, verifyOnSchedule } from '../helpers/audit-tamper';
import { OTHER_PRACTICE_AGB, OTHER_PRACTICE_NAME, PRACTICE_AGB, PRACTICE_NAME } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { cleanupTestEnv, namedPracticesRegistry, startTestApp, type TestApp } from '../helpers/test-runtime';

const pause = () => operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' });
const THIRD_PRACTICE = '07777777';

// An auditor's scope is every chain: the integrity banner above each page named every one of them, a line each,
// and a chain known broken was one alert among many lines of "intact". Nor did the console say how long the audit
// log is kept (AUDIT_RETENTION_DAYS), which config:check warns of when short and which bounds what an access request
// can be answered from.
describe('the integrity banner of the auditor console', () => {
  let app: TestApp;
  let auditor: ConsoleClient;
  let chains: number;

  const banner = async (cookie?: string): Promise<string> => {
    const page = await (await auditor.get('/console/auditor/verify', cookie ? { cookie } : {})).text();
    return /<section class="integrity"[\s\S]*?<\/section>/.exec(page)?.[0] ?? '';
  };

  beforeAll(async () => {
    app = await startTestApp({
      registry: namedPracticesRegistry(),
      env: { ROLE: 'api', AUDIT_SIGN_INTERVAL_MS: '3600000', AUDIT_RETENTION_DAYS: '2555' },
    });
    auditor = await openConsole(app, 'auditor');
    for (const tenant of [PRACTICE_AGB, OTHER_PRACTICE_AGB, THIRD_PRACTICE]) {
      for (let i = 0; i < 4; i++) {
        await app.rt.ctx.audit.append(tenant, pause());
      }
    }
    await app.rt.ctx.audit.flush();
    await app.rt.ctx.signedHeads.signer.signNow();
    chains = (await listChainTenants(app.rt.ctx.db)).length;
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  it('says in one line that every chain in scope is intact, not a line per chain', async () => {
    expect(chains).toBeGreaterThanOrEqual(3);
    await verifyOnSchedule(app);
    const text = await banner();
    expect(text).toMatch(new RegExp(`Alle ${chains} auditketens in orde; de oudste laatste volledige controle was `));
    // No chain named on a line of its own, by id or by name.
    for (const chain of [PRACTICE_AGB, OTHER_PRACTICE_AGB, PRACTICE_NAME, OTHER_PRACTICE_NAME]) {
      expect(text).not.toContain(chain);
    }
    expect(await banner('jb_lang=en')).toMatch(new RegExp(`All ${chains} audit chains intact; the oldest last full`));
  });

  it('shows a chain known broken, and the others in one line', async () => {
    await changeRowContent(app.testEnv.schema, OTHER_PRACTICE_AGB, 2);
    await verifyOnSchedule(app);
    const text = await banner();
    expect(text).toMatch(
      new RegExp(`Let op: auditketen ${OTHER_PRACTICE_NAME} \\(${OTHER_PRACTICE_AGB}\\) is beschadigd`),
    );
    expect(text).toMatch(new RegExp(`De andere ${chains - 1} auditketens zijn in orde`));
    expect(text).not.toContain(PRACTICE_AGB);
    expect(text).not.toContain(PRACTICE_NAME);
    expect(text.match(/class="notice error"/g)).toHaveLength(1);
  });

  it('says how long the audit log is kept, in Dutch and English, and so does the verify answer', async () => {
    expect(await banner()).toContain('Bewaartermijn van de auditlog: 2.555 dagen (ongeveer 7 jaar');
    expect(await banner('jb_lang=en')).toContain('Audit log retention: 2,555 days (about 7 years');
    const one = await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(await one.json()).toMatchObject({ ok: true, auditRetentionDays: 2555 });
    const all = await app.request('/audit/v1/verify', { key: 'auditor' });
    expect(await all.json()).toMatchObject({ auditRetentionDays: 2555 });
  });

  // With chains never verified beside them, "All 3 audit chains intact" said all while 2 were unverified.
  it('says neither "all" nor "the other" chains are intact while one is not verified yet, and one chain in the singular', async () => {
    const fourth = '08888888';
    await app.rt.ctx.audit.append(fourth, pause());
    await app.rt.ctx.audit.flush();
    const text = await banner();
    expect(text).not.toMatch(/Alle \d+ auditketens|De andere \d+ auditketens/);
    expect(text).toMatch(new RegExp(`${chains - 1} auditketens in orde; de oudste laatste volledige controle was `));
    expect(text).toContain('1 auditketen nog niet volledig gecontroleerd (de geplande controle gebeurt');
    const english = await banner('jb_lang=en');
    expect(english).not.toMatch(/All \d+ audit chains|The other \d+ audit chains/);
    expect(english).toMatch(new RegExp(`${chains - 1} audit chains intact; the oldest last full`));
    expect(english).toContain('1 audit chain not fully verified yet (the scheduled verification runs');
  });
});
