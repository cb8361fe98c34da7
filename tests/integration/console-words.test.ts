import { type ConsoleClient, postSignIn, useConsoleApp } from '../helpers/console-client';
import { insertInboxRows } from '../helpers/inbox-rows';
import { buildConsentEvent, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import {
  dataAccess,
  feedbackReceived,
  operatorAction,
  SYSTEM_WORKER,
  trajectoryEventReceived,
} from '../../src/audit/audit-events';
import { NOT_IN_SCOPE } from '../../src/http/audit-read';

// The console speaks the page's language: what the pipeline, the policy and the API record or answer in English
// (reason codes with their detail, field diagnostics) is said in words, and nothing is capitalised as a sentence
// that is an id.
describe('the console says what it shows in the language of the page', () => {
  const h = useConsoleApp(['practice', 'auditor', 'operator']);
  const c = h.consoles;

  const db = () => h.app.rt.ctx.db;
  const text = async (client: ConsoleClient, pathname: string) => (await client.get(pathname)).text();

  it("says each reason of a denial in words, in the practice's list and in the event's history", async () => {
    const [id = ''] = await insertInboxRows(db(), 'denied', 1);
    const reason =
      'consent-missing-guardian, consent-missing-child: no consent from guardian g1 (mother, has authority); ' +
      'no consent from the child c-2 (under Agreement demo-overbetuwe v1)';
    await db().query(`UPDATE inbox SET state_reason = $2 WHERE id = $1`, [id, reason]);
    await db().query(
      `INSERT INTO inbox_history (inbox_id, state, reason) VALUES ($1, 'received', NULL), ($1, 'denied', $2)`,
      [id, reason],
    );
    const words = 'De toestemming van een ouder met gezag ontbreekt; de toestemming van het kind ontbreekt';

    const list = await text(c.practice, '/console/practice?state=denied');
    expect(list).toContain(words);
    expect(list).not.toContain('no consent from');

    const event = await text(c.practice, `/console/practice/events/${id}`);
    expect(event).toContain(words);
    expect(event).not.toContain('no consent from');
  });

  /** The error notice of a page, its markup left out. */
  const noticeOf = (page: string) =>
    /class="notice error"[^>]*>([\s\S]*?)<\/div>/.exec(page)?.[1]?.replace(/<[^>]+>/g, '');

  it.each([
    ['/console/auditor/overview', '111222333', 200],
    ['/console/auditor/consents', '111222333', 200],
    ['/console/auditor/overview', '123456789', 422],
    ['/console/auditor/consents', '123456789', 422],
  ])(
    '%s keeps the BSN %s in the form, and names the child shown or says what is wrong in Dutch',
    async (path, bsn, status) => {
      const res = await c.auditor.submit(path, { bsn });
      expect(res.status).toBe(status);
      const page = await res.text();
      expect(page).toMatch(new RegExp(`<input\\s[^>]*name="bsn"[^>]*value="${bsn}"`));
      if (status === 200) {
        expect(page).toContain(`Getoond voor het kind met BSN ${bsn}.`);
      } else {
        expect(noticeOf(page)).toMatch(/^BSN van het kind: geen geldig BSN \(9 cijfers die de elfproef doorstaan\)\./);
        expect(page).not.toContain('Getoond voor');
      }
    },
  );

  it('says in Dutch what is wrong with a search, a chain to verify, an export and a credential', async () => {
    const search = await c.auditor.post('/console/auditor', { from: '2026-13-01' });
    expect(search.status).toBe(400);
    expect(noticeOf(await search.text())).toMatch(/^Periode: geen geldige datum \(JJJJ-MM-DD\)\./);

    const verify = await c.auditor.get('/console/auditor/verify?tenant=abc');
    expect(verify.status).toBe(400);
    const verifyPage = await verify.text();
    expect(noticeOf(verifyPage)).toBe(
      'Keten: geen keten (de AGB-code van een praktijk, system of destination/&lt;id&gt;).',
    );
    expect(verifyPage).toContain('action="/console/auditor/verify"');

    const exported = await c.auditor.get('/console/auditor/export/download?tenant=01234567&from=2026-13-01');
    expect(exported.status).toBe(400);
    expect(noticeOf(await exported.text())).toMatch(/^Van: geen geldige datum \(JJJJ-MM-DD\)\./);

    const signIn = await postSignIn(h.app, 'jb_not_a_key');
    expect(signIn.status).toBe(401);
    expect(noticeOf(await signIn.text())).toMatch(
      /^Aanmelden mislukt: de sleutel of het token wordt niet aanvaard \(onbekend, ingetrokken of verlopen\)\./,
    );
  });

  it('switches language back to the same page with its query, and never off the site', async () => {
    const page = await text(c.practice, '/console/practice?state=denied');
    const link = /<a class="lang" href="([^"]+)"/.exec(page)?.[1]?.replace(/&amp;/g, '&') ?? '';
    expect(link).toBe('/console/lang?to=en&back=%2Fconsole%2Fpractice%3Fstate%3Ddenied');
    const back = async (to: string) =>
      (await c.practice.get(`/console/lang?to=en&back=${encodeURIComponent(to)}`)).headers.get('location');
    expect(await back('/console/practice?state=denied')).toBe('/console/practice?state=denied');
    for (const away of [
      '//evil.example/console',
      'https://evil.example/console',
      '/console/../../evil',
      '/consolex',
      '/\\evil.example/console',
    ]) {
      expect(await back(away)).toBe('/console');
    }
    expect(await back('/console/practice?state=denied\r\nSet-Cookie: x=y')).toBe(
      '/console/practice?state=deniedSet-Cookie:%20x=y',
    );
  });

  it('says a referral that is a dead letter was not sent to the municipality, naming its state, not "above"', async () => {
    const [id = ''] = await insertInboxRows(db(), 'dead', 1);
    const page = (await text(c.practice, `/console/practice/events/${id}`)).replace(/<[^>]+>/g, ' ');
    expect(page).toContain('Deze verwijzing is niet naar de gemeente verstuurd (status: onbestelbaar)');
    expect(page).not.toContain('hierboven');
  });

  it("labels an event's deliveries truthfully: the last answer, and when it was delivered", async () => {
    const [id = ''] = await insertInboxRows(db(), 'dead', 1);
    await db().query(
      `INSERT INTO delivery (id, inbox_id, destination, idempotency_key, state, attempts, last_status, last_error,
         delivered_at)
       VALUES (gen_random_uuid(), $1, 'gm0226', gen_random_uuid()::text, 'delivered', 1, 200, NULL, now()),
         (gen_random_uuid(), $1, 'gm0344', gen_random_uuid()::text, 'dead', 1, 422, 'HTTP 422', NULL),
         (gen_random_uuid(), $1, 'gm0363', gen_random_uuid()::text, 'dead', 4, NULL, 'network error: ECONNREFUSED', NULL)`,
      [id],
    );
    const page = await text(c.operator, `/console/operator/events?id=${id}`);
    const cells = (destination: string) =>
      [
        ...(new RegExp(`<tr>\\s*<td>${destination}</td>([\\s\\S]*?)</tr>`).exec(page)?.[1] ?? '').matchAll(
          /<td[^>]*>([\s\S]*?)<\/td>/g,
        ),
      ].map((m) => (m[1] ?? '').trim());
    expect(page).toMatch(/<th scope="col">Laatste antwoord<\/th>\s*<th scope="col">Afgeleverd op<\/th>/);
    expect(cells('gm0226').slice(2)).toEqual(['HTTP 200', expect.stringMatching(/\d{2}:\d{2}:\d{2}$/)]);
    expect(cells('gm0344').slice(2)).toEqual(['HTTP 422', '']);
    expect(cells('gm0363').slice(2)).toEqual(['network error: ECONNREFUSED', '']);
  });

  it.each([
    ['dates the wrong way round', 'from=2026-03-01&to=2026-02-01', 'De datum bij ‘Van’ ligt na die bij ‘Tot en met’'],
    ['a date that is none', 'from=2026-02-30&to=2026-03-01', 'Van: geen geldige datum (JJJJ-MM-DD).'],
    ['a format the API does not know', 'from=2026-02-01&to=2026-03-01&format=xml', 'Formaat: ongeldige waarde.'],
  ])('answers an export of %s with the form, its values kept, and a message', async (_what, query, message) => {
    // A chain to export: the practice's, started here if no test before started it.
    const chain = PRACTICE_AGB;
    await h.app.rt.ctx.audit.append(chain, operatorAction({ actor: SYSTEM_WORKER, action: 'test', target: 'test/1' }));
    await h.app.rt.ctx.audit.flush();
    const res = await c.auditor.get(`/console/auditor/export/download?tenant=${chain}&${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('text/html');
    const page = await res.text();
    expect(noticeOf(page)).toContain(message);
    const sent = new URLSearchParams(query);
    expect(page).toContain(`name="from" value="${sent.get('from') ?? ''}"`);
    expect(page).toContain(`name="to" value="${sent.get('to') ?? ''}"`);
    expect(page).toMatch(new RegExp(`<option value="${chain}"\\s+selected>`));
  });

  it("names the audit search's column of links (for screen readers only)", async () => {
    await h.app.rt.ctx.audit.append(
      PRACTICE_AGB,
      operatorAction({ actor: SYSTEM_WORKER, action: 'test', target: 'test/2' }),
    );
    await h.app.rt.ctx.audit.flush();
    const page = await (await c.auditor.submit('/console/auditor', {})).text();
    expect(page).toContain('<th scope="col"><span class="visually-hidden">Details</span></th>');
    expect(page).not.toMatch(/<th[^>]*>\s*<\/th>/);
  });

  it("says a consent's status and what an access did in words", async () => {
    const referral = buildReferralEvent();
    const bsn = (referral.child as { bsn: string }).bsn;
    const res = await h.app.request('/his/v1/events', {
      json: buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }),
    });
    expect(res.status).toBe(202);
    await h.app.rt.ctx.audit.flush();

    const consents = await (await c.auditor.submit('/console/auditor/consents', { bsn })).text();
    expect(consents).toMatch(/<td>geldig<\/td>/);
    expect(consents).not.toMatch(/<td>active<\/td>/);
    const overview = await (await c.auditor.submit('/console/auditor/overview', { bsn })).text();
    expect(overview).toMatch(/<td>vastgelegd<\/td>/);
    expect(overview).not.toMatch(/<td>create<\/td>/);
  });
  it("says a purpose, an agreement's status and its legal basis in words, not as codes", async () => {
    const configuration = await text(c.operator, '/console/operator/configuration');
    const row = /<tr>\s*<th scope="row">[^<]+ v\d+<\/th>([\s\S]*?)<\/tr>/.exec(configuration)?.[1] ?? '';
    const cells = [...row.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((m) => (m[1] ?? '').trim());
    expect(cells[0]).toBe('actief');
    expect(cells[3]).toMatch(/^verwijzing/);
    expect(cells[3]).not.toMatch(/referral/);
    expect(['toestemming', 'wettelijke verplichting', 'publieke taak']).toContain(cells[4]);
  });

  // An auditor or privacy officer reads these pages without knowing the API's words or the environment variables: a
  // status update, a trajectory event and a refusal are said in Dutch, and the verify and export pages say in words
  // what a command or a setting would (the technical detail, when useful, folded away).
  it('says status updates, trajectory events and refusals in words, and no setting or command on the auditor pages', async () => {
    const bsn = '123456782';
    const actor = { userId: 'api-key:gm0226', accessPoint: '127.0.0.1' };
    const append = (e: Parameters<typeof h.app.rt.ctx.audit.append>[1]) => h.app.rt.ctx.audit.append(PRACTICE_AGB, e);
    await append(
      feedbackReceived({
        actor,
        municipality: 'GM0226',
        practiceAgb: PRACTICE_AGB,
        patientBsn: bsn,
        inboxId: '3f2b1c52-1a7e-4c1e-9c0f-2f2f0a8f4e11',
        feedbackId: '9a1d2e33-5b6c-4d7e-8f90-a1b2c3d4e5f6',
        serviceRequestId: 'sr-1',
        status: 'decision-issued',
      }),
    );
    for (const eventType of ['intake', 'closure']) {
      await append(
        trajectoryEventReceived({
          actor,
          municipality: 'GM0226',
          practiceAgb: PRACTICE_AGB,
          patientBsn: bsn,
          trajectoryEventId: `te-${eventType}`,
          eventType,
          purpose: 'referral',
        }),
      );
    }
    await append(
      dataAccess({
        actor,
        interaction: 'read',
        outcome: '4',
        outcomeDesc: NOT_IN_SCOPE,
        query: '/fhir/Task/x',
        patientBsn: bsn,
      }),
    );
    await h.app.rt.ctx.audit.flush();

    const overview = await (await c.auditor.submit('/console/auditor/overview', { bsn })).text();
    expect(overview).toContain('Status van de verwijzing: Beschikking afgegeven');
    expect(overview).toContain('Trajectgebeurtenis: intakegesprek');
    expect(overview).toContain('Trajectgebeurtenis: afsluiting');
    expect(overview).not.toContain('referral status');
    expect(overview).not.toMatch(/<td>(intake|closure)<\/td>/);

    const [refused] = await db().query<{ id: string }>(
      `SELECT resource::jsonb->>'id' AS id FROM audit_event WHERE tenant = $1 AND resource::jsonb->>'outcomeDesc' = $2`,
      [PRACTICE_AGB, NOT_IN_SCOPE],
    );
    const detail = await text(c.auditor, `/console/auditor/audit-events/${refused!.id}`);
    expect(detail).toContain('valt buiten het bereik van wie het vroeg');
    // The event as JSON, folded away, keeps what was recorded.
    const visible = (page: string) => page.replace(/<details[\s\S]*?<\/details>/g, '');
    expect(visible(detail)).not.toContain('scope');

    // Outside a folded-away technical detail, no variable name and no command.
    const verify = await text(c.auditor, '/console/auditor/verify');
    expect(verify).toMatch(/nog niet \(de geplande controle gebeurt dagelijks\)/);
    expect(visible(verify)).not.toMatch(/AUDIT_|hashketen/);
    const exportPage = await text(c.auditor, '/console/auditor/export');
    expect(exportPage).toMatch(/<details>[\s\S]*npm run audit-verify -- verify-export [\s\S]*--keys/);
    expect(visible(exportPage)).not.toMatch(/npm run|audit-verify/);

    // An intact chain whose newest rows are not signed yet says so, and which rows.
    await h.app.rt.ctx.signedHeads.signer.signNow();
    await append(operatorAction({ actor: SYSTEM_WORKER, action: 'pause', target: 'destination/gm0226' }));
    await h.app.rt.ctx.audit.flush();
    const verified = await text(c.auditor, `/console/auditor/verify?tenant=${PRACTICE_AGB}`);
    expect(verified).toMatch(/Rij \d+( tot en met \d+ zijn| is) nog niet door een handtekening gedekt/);
  });
});
