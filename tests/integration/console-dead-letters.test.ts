import { buildRegistry } from '../../src/event/registry';
import { countDestinationFailure, recordPause, recordProbeResult } from '../../src/event/event-store';
import { buildAgreement, buildDestination } from '../helpers/builders';
import { formFields, useConsoleApp } from '../helpers/console-client';
import { insertDeadLetters } from '../helpers/inbox-rows';

const REPLAY_ALL = '/console/operator/dead-letters/replay';

// The operator's dead letters: what the page says it will replay is what the replay sends again. The button once
// counted the 200 rows shown while the replay sent up to 1000 matching the filter, including any that died after.
describe("the console's dead letters: replay all does what its button says", () => {
  // No workers (ROLE=api): replayed deliveries stay pending, so the test counts exactly what the replay revived.
  const h = useConsoleApp(['operator', 'otherOperator', 'otherMunicipalityOperator'], {
    registry: buildRegistry({
      agreements: [buildAgreement()],
      destinations: [
        buildDestination('http://127.0.0.1:9/fhir'),
        buildDestination('http://127.0.0.1:9/fhir', { id: 'gm0344', municipality: 'GM0344' }),
      ],
    }),
  });
  const c = h.consoles;

  const db = () => h.app.rt.ctx.db;
  const page = async (query: string) => (await c.operator.get(`/console/operator/dead-letters${query}`)).text();
  const countIn = async (ids: readonly string[], state: string) =>
    (
      await db().query<{ n: number }>(
        `SELECT count(*)::int AS n FROM delivery WHERE id = ANY($1::uuid[]) AND state = $2`,
        [ids, state],
      )
    )[0]?.n;

  it('counts every dead letter the filter matches, and replays those and no others', async () => {
    const matching = await insertDeadLetters(db(), 'gm0344', 250, { before: new Date(Date.now() - 3_600_000) });
    const otherStatus = await insertDeadLetters(db(), 'gm0344', 3, { status: 500 });
    const text = await page('?destination=gm0344&status=422');
    expect(text).toContain('Alle 250 overeenkomende opnieuw versturen');
    const form = formFields(text, REPLAY_ALL);
    // Dead letters that arrive after the page was shown are not among the 250.
    const later = await insertDeadLetters(db(), 'gm0344', 5);

    const res = await c.operator.post(REPLAY_ALL, form);
    expect(res.status).toBe(303);
    expect(await countIn(matching, 'pending')).toBe(250);
    expect(await countIn(later, 'dead')).toBe(5);
    expect(await countIn(otherStatus, 'dead')).toBe(3);
    // The progress page follows the 250.
    expect(await (await c.operator.get('/console/operator/replays')).text()).toContain('0 van 250 afgeleverd');
  });

  it('says so when there are more than one replay sends, and sends the oldest', async () => {
    const ids = await insertDeadLetters(db(), 'gm0226', 1001);
    const text = await page('?destination=gm0226');
    expect(text).toContain('De oudste 1000 van de 1001 overeenkomende opnieuw versturen');
    await c.operator.post(REPLAY_ALL, formFields(text, REPLAY_ALL));
    expect(await countIn(ids.slice(0, 1000), 'pending')).toBe(1000);
    expect(await countIn(ids.slice(1000), 'dead')).toBe(1);
  });

  it("shows an operator of another practice none of the practice's dead letters, and answers its replay of one 404", async () => {
    const [id] = await insertDeadLetters(db(), 'gm0344', 1, { status: 418 });
    const [inbox] = await db().query<{ inbox_id: string }>('SELECT inbox_id FROM delivery WHERE id = $1', [id]);
    const own = await page('?destination=gm0344&status=418');
    expect(own).toContain(`/console/operator/dead-letters/${id}/replay`);
    const other = await (
      await c.otherOperator.get('/console/operator/dead-letters?destination=gm0344&status=418')
    ).text();
    expect(other).not.toContain(id!);
    expect(other).not.toContain(REPLAY_ALL);
    expect((await c.otherOperator.post(`/console/operator/dead-letters/${id}/replay`, {})).status).toBe(404);
    expect((await c.otherOperator.post(REPLAY_ALL, { destination: 'gm0344', status: '418' })).status).toBe(303);
    expect(await countIn([id!], 'dead')).toBe(1);
    // Its event is not found either, as an unknown one; both looks recorded in the practice's chain.
    expect((await c.otherOperator.get(`/console/operator/events?id=${inbox!.inbox_id}`)).status).toBe(404);
    const refused = await db().query<{ tenant: string }>(
      `SELECT tenant FROM audit_event WHERE outcome = '4' AND $1 = ANY(entities)
       AND 'https://jeugdbrug.nl/principal|api-key:otheroperator' = ANY(agents)`,
      [`inbox/${inbox!.inbox_id}`],
    );
    expect(refused.map((r) => r.tenant)).toEqual(['01234567', '01234567']);
  });

  it('shows where a receiver that answered a redirect moved (its Location, report-xmuni 5)', async () => {
    const [id] = await insertDeadLetters(db(), 'gm0344', 1, { status: 301 });
    await db().query(`UPDATE delivery SET response_summary = $2::jsonb WHERE id = $1`, [
      id,
      JSON.stringify({ contentType: null, size: 0, location: 'https://gw.example.nl/isam2/aanmeldingen' }),
    ]);
    const text = await page('?destination=gm0344&status=301');
    expect(text).toContain('doorverwezen naar (Location):');
    // Kept by an earlier build with its path of words, which may be a surname: shown as scheme, host and port only.
    expect(text).toContain('<code>https://gw.example.nl</code>');
    expect(text).not.toContain('aanmeldingen');
    const api = await h.app.request('/admin/v1/dead-letters?destination=gm0344&status=301', { key: 'operator' });
    const [listed] = ((await api.json()) as { deadLetters: { id: string; answer: unknown }[] }).deadLetters;
    expect(listed).toMatchObject({ id, answer: { contentType: null, size: 0, location: 'https://gw.example.nl' } });
  });

  it('names every column, the one of buttons too (for screen readers only)', async () => {
    await insertDeadLetters(db(), 'gm0226', 1);
    for (const path of ['/console/operator/dead-letters', '/console/operator/destinations']) {
      const text = await (await c.operator.get(path)).text();
      expect(text).toContain('<th scope="col"><span class="visually-hidden">Actie</span></th>');
      expect(text).not.toMatch(/<th[^>]*>\s*<\/th>/);
    }
    // Each row's button names its row: "Opnieuw versturen" alone, twenty times, says nothing to a screen reader.
    const list = await (await c.operator.get('/console/operator/dead-letters?destination=gm0226')).text();
    expect(list).toMatch(/Opnieuw versturen<span class="visually-hidden">: rows-[0-9a-f-]+ → gm0226<\/span>/);
  });

  // A dead letter whose content retention removed offered a button whose answer said it was no dead letter any more.
  it('offers no replay of a dead letter whose content retention removed, and says why when one is sent anyway', async () => {
    const [id] = await insertDeadLetters(db(), 'gm0344', 1, { status: 451 });
    await db().query(
      'UPDATE inbox SET payload = NULL, canonical = NULL WHERE id = (SELECT inbox_id FROM delivery WHERE id = $1)',
      [id],
    );
    const text = await page('?destination=gm0344&status=451');
    expect(text).toContain('de inhoud is na de bewaartermijn verwijderd');
    expect(text).not.toContain(`/console/operator/dead-letters/${id}/replay`);
    const refused = await c.operator.post(`/console/operator/dead-letters/${id}/replay`, {});
    expect(refused.status).toBe(409);
    const words = await refused.text();
    expect(words).toContain('de inhoud is na de bewaartermijn verwijderd');
    expect(words).not.toContain('niet (meer) onbestelbaar');
    expect(await countIn([id!], 'dead')).toBe(1);
    // The API's list says so too.
    const listed = await h.app.request('/admin/v1/dead-letters?destination=gm0344&status=451', { key: 'operator' });
    expect(((await listed.json()) as { deadLetters: { id: string; purged: boolean }[] }).deadLetters).toEqual([
      expect.objectContaining({ id, purged: true }),
    ]);
  });

  it("says a destination's health and its last probe in words", async () => {
    // As the workers leave it: failures counted, then a pause, then a probe.
    await countDestinationFailure(db(), 'gm0344', 'network error: ECONNREFUSED');
    await recordPause(
      db(),
      'gm0344',
      'auto',
      '20 consecutive failures, last: network error: ECONNREFUSED',
      'system/worker',
    );
    await recordProbeResult(db(), 'gm0344', 'down: GET HTTP 422');
    const text = await (await c.operator.get('/console/operator/destinations')).text();
    expect(text).toContain('automatisch gepauzeerd na 20 fouten op rij; de laatste: network error: ECONNREFUSED');
    expect(text).toContain('onbereikbaar: GET HTTP 422');
    expect(text).not.toContain('consecutive failures');
  });

  it("shows an operator of another municipality none of GM0226's destinations or agreements, and answers its pause of one 404", async () => {
    const scoped = c.otherMunicipalityOperator;
    const destinations = await (await scoped.get('/console/operator/destinations')).text();
    expect(destinations).toContain('/console/operator/destinations/gm0344/');
    expect(destinations).not.toContain('gm0226');
    const home = await (await scoped.get('/console/operator')).text();
    expect(home).toContain('gm0344');
    expect(home).not.toMatch(/<th scope="row">gm0226<\/th>/);
    // Its queue table: its destination's deliver queue and the shared stage queues (totals), not GM0226's queue.
    expect(home).toMatch(/<th scope="row">deliver\.gm0344<\/th>/);
    expect(home).toMatch(/<th scope="row">map<\/th>/);
    expect(home).toMatch(/<th scope="row">feedback<\/th>/);
    expect(home).not.toContain('deliver.gm0226');
    const configuration = await (await scoped.get('/console/operator/configuration')).text();
    expect(configuration).not.toContain('GM0226');
    expect(configuration).toContain('gm0344');
    for (const action of ['pause', 'resume']) {
      const res = await scoped.post(`/console/operator/destinations/gm0226/${action}`, { reason: 'not mine' });
      expect({ action, status: res.status }).toEqual({ action, status: 404 });
    }
    const [row] = await db().query<{ paused_by: string | null }>(
      `SELECT paused_by FROM destination_state WHERE destination = 'gm0226'`,
    );
    expect(row?.paused_by ?? null).toBeNull();
    const refused = await db().query<{ tenant: string }>(
      `SELECT tenant FROM audit_event WHERE outcome = '4'
       AND 'https://jeugdbrug.nl/principal|api-key:othermunicipalityoperator' = ANY(agents)`,
    );
    expect(refused.map((r) => r.tenant)).toEqual(['destination/gm0226', 'destination/gm0226']);
  });
  it('names each replayed delivery by its event id, linked to its timeline, with a way back to the dead letters', async () => {
    const [id = ''] = await insertDeadLetters(db(), 'gm0344', 1, { status: 419 });
    const [event] = await db().query<{ inbox_id: string; source_event_id: string }>(
      'SELECT d.inbox_id, i.source_event_id FROM delivery d JOIN inbox i ON i.id = d.inbox_id WHERE d.id = $1',
      [id],
    );
    expect((await c.operator.post(`/console/operator/dead-letters/${id}/replay`, {})).status).toBe(303);
    const progress = await (await c.operator.get('/console/operator/replays')).text();
    expect(progress).toContain(
      `<a href="/console/operator/events?id=${event?.inbox_id ?? ''}">${event?.source_event_id ?? ''}</a>`,
    );
    expect(progress).toContain('href="/console/operator/dead-letters"');
    expect(progress).not.toMatch(new RegExp(`<td>${id}</td>`));
  });

  it('says when a destination was paused and last probed, and confirms a pause and a resume once', async () => {
    await db().query(`INSERT INTO destination_state (destination) VALUES ('gm0226') ON CONFLICT DO NOTHING`);
    await recordProbeResult(db(), 'gm0226', 'up: GET HTTP 200');
    await db().query(`UPDATE destination_state SET last_probe_at = now() WHERE destination = 'gm0226'`);
    const paused = await c.operator.submit('/console/operator/destinations/gm0226/pause', { reason: 'ticket 4711' });
    const text = (await paused.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(text).toContain('Bestemming gm0226 is gepauzeerd.');
    expect(text).toMatch(
      /gepauzeerd door een beheerder \(api-key:operator\): ticket 4711 \(sinds \d{1,2} [a-z]+ \d{4}, \d{2}:\d{2}:\d{2}\)/,
    );
    expect(text).toMatch(/bereikbaar: GET HTTP 200 \d{1,2} [a-z]+ \d{4}, \d{2}:\d{2}:\d{2}/);
    // Said once: the page's address holds no notice, and a reload shows none.
    expect(new URL(paused.url).search).toBe('');
    expect(await (await c.operator.get('/console/operator/destinations')).text()).not.toContain('is gepauzeerd.');
    const resumed = await (await c.operator.submit('/console/operator/destinations/gm0226/resume', {})).text();
    expect(resumed).toContain('Bestemming gm0226 is hervat:');
  });

  // The app reads a form with a credential header only after authenticating it (auth-before-body.test.ts); the
  // console authenticates by its session, not by that header, and still checks the form's text before using it.
  it('refuses a pause reason with a NUL byte as well when the form comes with an Authorization header', async () => {
    const res = await c.operator.post(
      '/console/operator/destinations/gm0226/pause',
      { reason: 'ticket\u00004711' },
      { headers: { authorization: 'Bearer jb_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } },
    );
    expect(res.status).toBe(400);
    const rows = await db().query<{ paused_by: string | null }>(
      `SELECT paused_by FROM destination_state WHERE destination = 'gm0226'`,
    );
    expect(rows[0]?.paused_by ?? null).toBeNull();
  });
});
