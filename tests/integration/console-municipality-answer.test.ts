import { PRINCIPAL_SYSTEM } from '../../src/audit/audit-events';
import { buildRegistry } from '../../src/event/registry';
import { buildAgreement, buildDestination, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { formFields, openConsole, type ConsoleClient } from '../helpers/console-client';
import { DeliveryReceiver } from '../helpers/delivery-receiver';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { amsterdamDay } from '../../src/kernel/dutch-time';

// A municipality case worker could see a referral's statuses in the console but not record one: answering needed
// curl or POST /fhir/Task. The referral's page now has a form that posts to the console, which records the status
// with the API's own functions (parseStatusUpdate, referralFor, recordUpdate): same rules, same audit, same way on
// to the practice's HIS.
describe('a municipality answers a referral in the console', () => {
  let municipality: DeliveryReceiver;
  let practiceFhir: DeliveryReceiver;
  let app: TestApp;
  let caseWorker: ConsoleClient;
  let operator: ConsoleClient;
  const testEnv = createTestEnv();
  let eventId = '';
  let referralId = '';

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    practiceFhir = await new DeliveryReceiver().start();
    app = await startTestApp({
      testEnv,
      registry: buildRegistry({
        agreements: [buildAgreement()],
        destinations: [buildDestination(municipality.url('/fhir'))],
        practices: [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practiceFhir.url('/his/fhir') }],
      }),
    });
    const event = buildReferralEvent();
    referralId = (event.referral as { id: string }).id;
    const res = await app.request('/his/v1/events', { json: event });
    expect(res.status).toBe(202);
    eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]?.id ?? '';
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>(`SELECT state FROM inbox WHERE id = $1`, [eventId]);
      return row?.state === 'delivered';
    });
    caseWorker = await openConsole(app, 'municipality');
    operator = await openConsole(app, 'operator');
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([municipality.stop(), practiceFhir.stop()]);
    await cleanupTestEnv(testEnv);
  });

  // Addressed as the API addresses it: by the identifier the municipality received (system|value).
  const pagePath = () =>
    `/console/municipality/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${referralId}`)}`;
  const action = () => `${pagePath()}/status`;
  const statusOptions = (page: string) =>
    [...(/<select name="status"[^>]*>([\s\S]*?)<\/select>/.exec(page)?.[1] ?? '').matchAll(/value="([^"]+)"/g)].map(
      (m) => m[1],
    );

  interface StatusView {
    statusUpdates: { id: string; status: string; date: string; delivery: { state: string } }[];
  }
  const apiStatus = async (): Promise<StatusView> =>
    (await (
      await app.request(`/municipality/v1/referrals/${referralId}/status`, { key: 'municipality' })
    ).json()) as StatusView;

  it('links each referral of the list to its page, which offers every status (none sent yet)', async () => {
    const list = await (await caseWorker.get('/console/municipality/referrals')).text();
    expect(list).toContain(`href="${pagePath()}"`);
    // report-xpolicy L6: each row's link says which referral it answers, not only "Status terugmelden".
    expect(list).toMatch(
      new RegExp(`Status terugmelden<span class="visually-hidden">\\s*voor verwijzing ${referralId}</span`),
    );
    const res = await caseWorker.get(pagePath());
    expect(res.status).toBe(200);
    const page = await res.text();
    // First the status (a step of its own, to the page again), then the form that records it with its own fields.
    expect(page).toContain(`<form method="get" action="${pagePath()}"`);
    expect(statusOptions(page)).toEqual([
      'received',
      'accepted',
      'rejected',
      'decision-issued',
      'allocated',
      'care-started',
      'care-ended',
      'closed',
    ]);
    const rejecting = await (await caseWorker.get(`${pagePath()}?status=rejected`)).text();
    expect(rejecting).toContain(`action="${action()}"`);
    expect(rejecting).toContain('Reden van afwijzing');
    const deciding = await (await caseWorker.get(`${pagePath()}?status=decision-issued`)).text();
    expect(deciding).toContain(`action="${action()}"`);
    expect(deciding).toContain('Beschikkingsnummer');
  });

  it("records 'accepted' then 'decision-issued' as the API would: shown by the API and sent on to the practice", async () => {
    const accepted = await caseWorker.post(action(), {
      ...formFields(await (await caseWorker.get(`${pagePath()}?status=accepted`)).text(), action()),
      status: 'accepted',
      date: '2026-11-23',
    });
    expect(accepted.status).toBe(303);
    expect(accepted.headers.get('location')).toBe(`${pagePath()}?recorded=accepted`);
    const after = await (await caseWorker.get(accepted.headers.get('location') ?? '')).text();
    expect(after).toContain('Status vastgelegd');
    expect(after).toMatch(/<time datetime="2026-11-23">23 nov 2026<\/time>\s*<strong>Aangenomen door de gemeente/);
    // What may follow 'accepted' only.
    expect(statusOptions(after)).toEqual([
      'accepted',
      'rejected',
      'decision-issued',
      'allocated',
      'care-started',
      'care-ended',
      'closed',
    ]);

    const decided = await caseWorker.submit(action(), {
      status: 'decision-issued',
      date: '2026-12-01',
      decisionNumber: 'B-2026-17',
      decisionDate: '2026-12-01',
      decisionProductCategory: '45',
      periodStart: '2026-12-07',
      periodEnd: '2027-06-07',
    });
    expect(decided.status).toBe(200);
    expect(await decided.text()).toMatch(
      /<time datetime="2026-12-01">1 dec 2026<\/time>\s*<strong>Beschikking afgegeven/,
    );

    const api = await apiStatus();
    expect(api.statusUpdates.map((u) => [u.status, u.date])).toEqual([
      ['accepted', '2026-11-23'],
      ['decision-issued', '2026-12-01'],
    ]);
    for (const u of api.statusUpdates) {
      const hit = await waitFor(`status ${u.status} at the practice`, () => practiceFhir.stored.get(`fb-${u.id}`));
      expect(JSON.stringify(hit.body)).toContain(u.status === 'accepted' ? '"accepted"' : 'B-2026-17');
    }
    await waitFor('both marked delivered to the practice', async () =>
      (await apiStatus()).statusUpdates.every((u) => u.delivery.state === 'delivered'),
    );

    // Audited as the API's call: a feedback receipt in the practice's chain, by the municipality's key.
    await app.rt.ctx.audit.flush();
    const [audited] = await app.rt.ctx.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_event WHERE tenant = $1 AND subtype = 'receive' AND agents @> ARRAY[$2]`,
      [PRACTICE_AGB, `${PRINCIPAL_SYSTEM}|api-key:municipality`],
    );
    expect(Number(audited?.n)).toBe(2);
  });

  it('refuses a status that may not follow the current one, naming the field, and records nothing', async () => {
    const res = await caseWorker.post(action(), { status: 'received', date: '2026-12-02' });
    expect(res.status).toBe(409);
    const page = await res.text();
    expect(page).toMatch(/class="notice error"[\s\S]*Status: /);
    expect(page).toContain('received may not follow it');
    // The status may not follow: not offered again; the choice is asked for again, of the statuses that may follow,
    // the refusal beside it (rev-late1 6).
    expect(page).not.toContain(`action="${action()}"`);
    const statusSelect = /<select name="status"[^>]*>([\s\S]*?)<\/select>/.exec(page)?.[1] ?? '';
    expect(statusSelect).not.toContain('value="received"');
    expect(statusSelect).toMatch(/<option value="[a-z-]+"/);
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
  });

  // report-xmuni M2: a colleague recorded a status meanwhile; the page said only "Status: ongeldige waarde", and the
  // form fell back to the choice of a status, what the case worker typed gone.
  it('says in words that the referral moved on meanwhile, what may follow, that nothing was recorded, and keeps what was typed', async () => {
    const typed = { status: 'rejected', date: '2026-12-02', reasonCode: 'other', reason: 'Al bekend bij ons team' };
    const res = await caseWorker.post(action(), { ...typed, confirm: 'yes' });
    expect(res.status).toBe(409);
    const page = await res.text();
    const notice = noticeOf(page);
    expect(notice).toMatch(
      /^Status: deze verwijzing heeft inmiddels de status Beschikking afgegeven, door de gemeente vastgelegd .+ \(met als datum 1 dec 2026\); daarop kan volgen: Beschikking afgegeven, .*Afgesloten\. Er is niets vastgelegd\./,
    );
    expect(notice).not.toContain('ongeldige waarde');
    // What was typed is on the page, to take over into another status.
    expect(page).toContain('Wat u had ingevuld (niet vastgelegd)');
    expect(page).toContain('Al bekend bij ons team');
    expect(page).toMatch(/<dt>Datum van de status<\/dt>\s*<dd>2026-12-02<\/dd>/);
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
    // In English too.
    const english = noticeOf(
      await (await caseWorker.post(action(), { ...typed, confirm: 'yes' }, { cookie: 'jb_lang=en' })).text(),
    );
    expect(english).toMatch(
      /^Status: meanwhile this referral got the status Decision issued, recorded by the municipality /,
    );
    expect(english).toContain('Nothing was recorded.');
  });

  // report-xmuni L2: a day typed the Dutch way was "ongeldige waarde", where the list's filter names the format.
  it('names the format of a status day typed another way, as the list filter does', async () => {
    const res = await caseWorker.post(action(), { status: 'closed', date: '07-12-2026', confirm: 'yes' });
    expect(res.status).toBe(422);
    expect(noticeOf(await res.text())).toMatch(/^Datum van de status: geen geldige datum \(JJJJ-MM-DD\)\./);
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
  });

  it('names the decision field the API names for an incomplete decision', async () => {
    const res = await caseWorker.post(action(), {
      status: 'decision-issued',
      decisionNumber: 'B-2026-18',
      decisionDate: '2026-12-02',
      decisionProductCategory: '45',
    });
    expect(res.status).toBe(422);
    const page = await res.text();
    expect(page).toContain('Begin van de periode');
    expect(page).toContain('value="B-2026-18"');
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
  });

  /** The error notice of a page, its markup left out. */
  const noticeOf = (page: string) =>
    (/class="notice error"[^>]*>([\s\S]*?)<\/div>/.exec(page)?.[1] ?? '').replace(/<[^>]+>/g, '').replace(/\s+/g, ' ');

  it.each([
    ['a day after today', '2099-01-15', /^Datum van de status: ligt na vandaag \(\d+ [a-z]+\.? \d{4}\)\./],
    [
      'a day before the referral was made',
      '2000-01-01',
      /^Datum van de status: ligt vóór de verwijzing \(\d+ [a-z]+\.? \d{4}\)\./,
    ],
  ])('says in Dutch what is wrong with %s, not "ongeldige waarde", and records nothing', async (_what, date, said) => {
    const res = await caseWorker.post(action(), { status: 'closed', date, confirm: 'yes' });
    expect(res.status).toBe(422);
    const notice = noticeOf(await res.text());
    expect(notice).toMatch(said);
    expect(notice).not.toContain('ongeldige waarde');
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
  });

  it('names every field a decision is missing, in Dutch and in the technical detail', async () => {
    const res = await caseWorker.post(action(), { status: 'decision-issued', decisionNumber: 'B-2026-19' });
    expect(res.status).toBe(422);
    const notice = noticeOf(await res.text());
    for (const label of ['Datum van de beschikking', 'Productcategorie (JZ020)', 'Begin van de periode']) {
      expect(notice).toContain(`${label}: vul dit in.`);
    }
    expect(notice).toContain('decision.date: is required');
    expect(notice).toContain('decision.period.start: is required');
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
  });

  it("gives an operator no form, and refuses the operator's post with 403", async () => {
    const event = await operator.get(`/console/operator/events?id=${eventId}`);
    expect(event.status).toBe(200);
    expect(await event.text()).not.toContain('/status"');
    expect((await operator.get(pagePath())).status).toBe(403);
    const res = await operator.post(action(), { status: 'closed' });
    expect(res.status).toBe(403);
    expect((await apiStatus()).statusUpdates).toHaveLength(2);
  });
  it('marks a referral the practice cancelled, on its own day, and offers no status form for it', async () => {
    // report-xpolicy M8: the page said "no status yet" with the full form, which then failed with a generic error;
    // the cancellation's row showed the day it was received as the day of the referral.
    const event = buildReferralEvent({ occurredAt: '2026-11-20T10:15:00+01:00' });
    const referral = (event.referral as { id: string }).id;
    const cancellation = {
      ...event,
      eventId: `${event.eventId as string}-cancelled`,
      eventType: 'referral.cancelled',
      occurredAt: '2026-11-22T09:00:00+01:00',
      referral: { id: referral },
    };
    for (const e of [event, cancellation]) {
      const res = await app.request('/his/v1/events', { json: e });
      const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]?.id ?? '';
      await waitFor(`${String(e.eventType)} delivered`, async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>(`SELECT state FROM inbox WHERE id = $1`, [id]);
        return row?.state === 'delivered';
      });
    }

    const list = await (await caseWorker.get(`/console/municipality/referrals?referral=${referral}`)).text();
    const rows = [...list.matchAll(/<tr[ >][\s\S]*?<\/tr>/g)].map((m) => m[0]).filter((r) => r.includes(referral));
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toContain('class="cancelled"');
      expect(row).toContain('Ingetrokken door de praktijk op 22 nov 2026');
      // The day the referral was written, on the cancellation's row too: not the day either was received.
      expect(row).toContain('<td>20 nov 2026</td>');
    }
    expect(rows.filter((r) => /<td>\s*intrekking/.test(r))).toHaveLength(1);

    const path = `/console/municipality/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${referral}`)}`;
    const page = await (await caseWorker.get(path)).text();
    expect(page).toMatch(/class="notice warn"[^>]*>De praktijk heeft deze verwijzing op 22 nov 2026 ingetrokken/);
    expect(page).toContain('U kunt er geen status meer op terugmelden.');
    expect(page).not.toContain('class="status-form"');
    expect(page).not.toContain('Nog geen status van de gemeente ontvangen');

    // A form still open in another tab: refused in words, nothing recorded.
    const res = await caseWorker.post(`${path}/status`, { status: 'accepted', date: '2026-11-23' });
    expect(res.status).toBe(409);
    const refused = await res.text();
    expect(refused).toContain('Er is niets vastgelegd of verstuurd: de praktijk heeft deze verwijzing ingetrokken.');
    expect(refused).not.toContain('Het verzoek is niet geldig');
    expect(refused).not.toContain('class="status-form"');
    const api = await app.request(`/municipality/v1/referrals/${referral}/status`, { key: 'municipality' });
    expect(((await api.json()) as StatusView).statusUpdates).toEqual([]);
  });

  /** Submits `event` as the practice and waits until it reached the municipality (`what` names it if it does not). */
  const submitDelivered = async (event: Record<string, unknown>, what: string) => {
    const res = await app.request('/his/v1/events', { json: event });
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]?.id ?? '';
    await waitFor(`${what} delivered`, async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>(`SELECT state FROM inbox WHERE id = $1`, [id]);
      return row?.state === 'delivered';
    });
  };

  /**
   * `post`'s response, and how many times the console's handling of it read whether the practice's cancellation
   * reached the municipality (tryGetDeliveredCancellation's statement, called from the console's router): workers
   * reading it at the same moment (the status's delivery to the practice) are not counted.
   */
  const cancellationReadsOf = async (post: () => Promise<Response>) => {
    const db = app.rt.ctx.db;
    const query = db.query.bind(db);
    let reads = 0;
    const spy = jest.spyOn(db, 'query').mockImplementation((sql, params) => {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 50;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (/^SELECT c\.id, cd\.(first_)?delivered_at FROM/.test(sql) && stack.includes('municipality-pages')) {
        reads++;
      }
      return query(sql, params);
    });
    try {
      const res = await post();
      return { res, page: await res.text(), reads };
    } finally {
      spy.mockRestore();
    }
  };

  it('reads once per post of the form whether the practice cancelled the referral, and answers as before', async () => {
    const event = buildReferralEvent();
    await submitDelivered(event, 'the referral');
    const referral = (event.referral as { id: string }).id;
    const path = `/console/municipality/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${referral}`)}`;

    // Incomplete (refused by parseStatusUpdate), and dated after today (refused as it is recorded).
    const incomplete = { status: 'decision-issued', decisionNumber: 'B-2026-20' };
    const tomorrow = { status: 'closed', date: '2099-01-15', confirm: 'yes' };
    const invalid = await cancellationReadsOf(() => caseWorker.post(`${path}/status`, incomplete));
    expect([invalid.res.status, invalid.reads]).toEqual([422, 1]);
    expect(invalid.page).toContain('class="status-form"');
    const late = await cancellationReadsOf(() => caseWorker.post(`${path}/status`, tomorrow));
    expect([late.res.status, late.reads]).toEqual([422, 1]);
    const recorded = await cancellationReadsOf(() =>
      caseWorker.post(`${path}/status`, { status: 'received', date: amsterdamDay(new Date()) }),
    );
    expect([recorded.res.status, recorded.reads]).toEqual([303, 1]);

    const cancellation = { ...event, eventId: `${event.eventId as string}-cancelled`, eventType: 'referral.cancelled' };
    await submitDelivered({ ...cancellation, referral: { id: referral } }, 'the cancellation');
    // A valid status and an invalid form alike: the cancelled page (409), not the form's 422, read once.
    for (const form of [{ status: 'accepted', date: amsterdamDay(new Date()) }, incomplete, tomorrow]) {
      const refused = await cancellationReadsOf(() => caseWorker.post(`${path}/status`, form));
      expect([refused.res.status, refused.reads]).toEqual([409, 1]);
      expect(refused.page).toContain(
        'Er is niets vastgelegd of verstuurd: de praktijk heeft deze verwijzing ingetrokken.',
      );
      expect(refused.page).toMatch(/class="notice warn"[^>]*>De praktijk heeft deze verwijzing op /);
      expect(refused.page).not.toContain('class="status-form"');
    }
    const api = await app.request(`/municipality/v1/referrals/${referral}/status`, { key: 'municipality' });
    expect(((await api.json()) as StatusView).statusUpdates.map((u) => u.status)).toEqual(['received']);
  });

  it("takes the case worker's explanation (toelichting) with a reason, and sends it on to the practice", async () => {
    // A referral of its own: the first one is past the point where it may be rejected.
    const event = buildReferralEvent();
    await submitDelivered(event, 'the second referral');
    const referral = (event.referral as { id: string }).id;
    const path = `/console/municipality/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${referral}`)}`;
    const form = await (await caseWorker.get(`${path}?status=rejected`)).text();
    expect(form).toMatch(/<textarea[^>]*name="reason"/);
    const explanation = 'Het gezin woont sinds november in een andere gemeente';
    const rejected = await caseWorker.post(`${path}/status`, {
      ...formFields(form, `${path}/status`),
      status: 'rejected',
      date: amsterdamDay(new Date()),
      reasonCode: 'other',
      reason: explanation,
      confirm: 'yes',
    });
    expect(rejected.status).toBe(303);
    const statuses = (await (
      await app.request(`/municipality/v1/referrals/${referral}/status`, { key: 'municipality' })
    ).json()) as StatusView;
    const update = statuses.statusUpdates.find((u) => u.status === 'rejected');
    const hit = await waitFor('the rejection at the practice', () => practiceFhir.stored.get(`fb-${update?.id ?? ''}`));
    expect(JSON.stringify(hit.body)).toContain(explanation);
  });

  it('asks for the status first, with no default, then shows only its fields (report-xpolicy M1, L5)', async () => {
    const event = buildReferralEvent();
    await submitDelivered(event, 'a referral to reject');
    const referral = (event.referral as { id: string }).id;
    const path = `/console/municipality/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${referral}`)}`;
    const first = await (await caseWorker.get(path)).text();
    // An arrow key pressed in passing chose "Ontvangen", then "Afgewezen": now the first option chooses nothing.
    const statusSelect = /<select name="status"[^>]*>([\s\S]*?)<\/select>/.exec(first)?.[1] ?? '';
    expect(statusSelect).toMatch(/^\s*<option value="">kies…<\/option>/);
    expect(statusSelect).not.toContain('selected');
    expect(first).toMatch(/<select name="status" required>/);
    // No status's fields before a status is chosen (about 35 tab stops before).
    expect(first).not.toMatch(/name="(reasonCode|decisionNumber|decisionDate|providerAgb|startDate|endDate)"/);
    expect(first).not.toContain(`action="${path}/status"`);

    const rejecting = await (await caseWorker.get(`${path}?status=rejected`)).text();
    expect(rejecting).toMatch(/<select name="reasonCode" required>\s*<option value="">kies…<\/option>/);
    expect(rejecting).not.toMatch(/name="(decisionNumber|decisionDate|providerAgb|startDate|endDate)"/);
    // A final status: said so, and confirmed with a second control.
    expect(rejecting).toContain('deze status kan niet ongedaan worden gemaakt');
    expect(rejecting).toMatch(/<input type="checkbox" name="confirm" value="yes" required \/>/);
    const deciding = await (await caseWorker.get(`${path}?status=decision-issued`)).text();
    expect(deciding).toMatch(/name="decisionNumber"/);
    expect(deciding).not.toMatch(/name="(reasonCode|providerAgb|startDate|endDate|confirm)"/);
    const accepting = await (await caseWorker.get(`${path}?status=accepted`)).text();
    expect(accepting).not.toMatch(/name="(reasonCode|decisionNumber|providerAgb|startDate|endDate|confirm)"/);
  });

  it('refuses a rejection without its reason, and a final status not confirmed, tying the error to the field (report-xpolicy M1, L4)', async () => {
    const event = buildReferralEvent();
    await submitDelivered(event, 'a referral to reject');
    const referral = (event.referral as { id: string }).id;
    const path = `/console/municipality/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${referral}`)}`;
    const fields = formFields(await (await caseWorker.get(`${path}?status=rejected`)).text(), `${path}/status`);
    expect(fields).toMatchObject({ status: 'rejected', confirm: 'yes' });
    const statuses = async () =>
      (
        (await (
          await app.request(`/municipality/v1/referrals/${referral}/status`, { key: 'municipality' })
        ).json()) as StatusView
      ).statusUpdates.map((u) => u.status);

    // The slip of the report: rejected, the reason left at its first option.
    const slip = await caseWorker.post(`${path}/status`, { ...fields, reasonCode: '' });
    expect(slip.status).toBe(422);
    const refused = await slip.text();
    expect(noticeOf(refused)).toMatch(/^Reden van afwijzing: kies een reden\./);
    // The refusal is focused when the page opens, and the field points at it.
    expect(refused).toMatch(/<div class="notice error" role="alert" id="status-error" tabindex="-1" autofocus>/);
    expect(refused).toMatch(/<select name="reasonCode" required aria-invalid="true" aria-describedby="status-error">/);
    expect(refused).toContain(`action="${path}/status"`);

    // With a reason, but not confirmed.
    const unconfirmed = Object.fromEntries(Object.entries(fields).filter(([name]) => name !== 'confirm'));
    const notConfirmed = await caseWorker.post(`${path}/status`, { ...unconfirmed, reasonCode: 'other-municipality' });
    expect(notConfirmed.status).toBe(422);
    const again = await notConfirmed.text();
    expect(noticeOf(again)).toMatch(/^Ik heb gecontroleerd dat dit de juiste status is: vink dit aan/);
    expect(again).toMatch(/name="confirm" value="yes" required aria-invalid="true" aria-describedby="status-error"/);
    expect(again).toMatch(/<option value="other-municipality"\s+selected>/);
    // Neither a reason nor confirmed: one refusal naming both, not one at a time (rev-late1 6).
    const neither = await caseWorker.post(`${path}/status`, { ...unconfirmed, reasonCode: '' });
    expect(neither.status).toBe(422);
    expect(noticeOf(await neither.text())).toMatch(/Reden van afwijzing: kies een reden\.[\s\S]*Ik heb gecontroleerd/);
    expect(await statuses()).toEqual([]);

    const recorded = await caseWorker.post(`${path}/status`, { ...fields, reasonCode: 'other-municipality' });
    expect(recorded.status).toBe(303);
    expect(await statuses()).toEqual(['rejected']);
  });

  it('offers the JZ020 product categories as a choice, in the page language (report-xpolicy L4)', async () => {
    const decidingNl = await (await caseWorker.get(`${pagePath()}?status=decision-issued`)).text();
    const categories = /<select name="decisionProductCategory" required>([\s\S]*?)<\/select>/.exec(decidingNl)?.[1];
    expect(categories).toMatch(/^\s*<option value="">kies…<\/option>/);
    expect(categories).toMatch(/<option value="45"\s*>45 – /);
    expect(categories).toMatch(/<option value="54"\s*>54 – /);
    const choosingEn = await (await caseWorker.get(`${pagePath()}?status=rejected`, { cookie: 'jb_lang=en' })).text();
    expect(choosingEn).toMatch(/<option value="">choose…<\/option>/);
  });
});
