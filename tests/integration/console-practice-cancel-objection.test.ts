import { buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// report-xhis2 findings 5 and 6. A referral the practice cancelled still read "Nog geen status van de gemeente" in
// its console, though jeugdbrug knew of the cancellation and whether it reached the municipality. An objection (a
// Consent with provision.type deny) was listed as a plain consent, and the denial it caused said the child's consent
// was "missing" ("Ontbreekt bij: het kind"), which sends the practice to ask a child for a consent it refused.
describe("the practice's console on a cancelled referral and on an objection", () => {
  // The default agreement rests on a public task and honours objections.
  const h = useDeliveryApp({ destination: (r) => contractDestination(r.url('/fhir'), {}) });
  let practice: ConsoleClient;

  beforeAll(async () => {
    practice = await openConsole(h.app, 'practice');
  });

  const words = (fragment: string) => fragment.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
  const page = async (id: string) => words(await (await practice.get(`/console/practice/events/${id}`)).text());
  const listRow = async (id: string) =>
    new RegExp(`<tr class="state-[a-z]+">(?:(?!</tr>)[\\s\\S])*?/console/practice/events/${id}"[\\s\\S]*?</tr>`).exec(
      await (await practice.get('/console/practice')).text(),
    )?.[0] ?? '';

  it('says a referral the practice cancelled was cancelled, and when the cancellation reached the municipality', async () => {
    const referral = buildReferralEvent();
    const id = await h.submit(referral);
    await h.reachesState(id, 'delivered');
    const cancellation: Record<string, unknown> = {
      ...buildReferralEvent({
        eventType: 'referral.cancelled',
        referral: { id: (referral.referral as { id: string }).id },
      }),
      child: referral.child,
    };
    const cancelId = await h.submit(cancellation);
    await h.reachesState(cancelId, 'delivered');
    const [reached] = await h.app.rt.ctx.db.query<{ reached_at: Date }>(
      'SELECT first_delivered_at AS reached_at FROM delivery WHERE inbox_id = $1',
      [cancelId],
    );
    const at = new Intl.DateTimeFormat('nl-NL', { dateStyle: 'medium', timeZone: 'Europe/Amsterdam' }).format(
      reached!.reached_at,
    );

    const text = await page(id);
    expect(text).not.toContain('Nog geen status van de gemeente ontvangen');
    expect(text).toContain(`Ingetrokken door de praktijk (event ${String(cancellation.eventId)})`);
    expect(text).toContain(`de intrekking bereikte de gemeente op ${at}`);
    expect(await listRow(id)).toContain('<td>ingetrokken door de praktijk</td>');
    const en = words(await (await practice.get(`/console/practice/events/${id}`, { cookie: 'jb_lang=en' })).text());
    expect(en).toContain(`Cancelled by the practice (event ${String(cancellation.eventId)})`);
  });

  it('lists an objection as one, and its denial says who objected and when, not whose consent is missing', async () => {
    const referral = buildReferralEvent();
    const childId = (referral.child as { id: string }).id;
    const objection = buildConsentEvent(referral, { decision: 'deny', givenBy: [{ kind: 'child' }] });
    const objectionId = await h.submit(objection);
    await h.reachesState(objectionId, 'completed');
    expect(await listRow(objectionId)).toContain('<td>consent.recorded (bezwaar)</td>');
    expect(await page(objectionId)).toContain(`Bezwaar van: het kind (${childId}), vastgelegd op 19 nov 2026`);

    const id = await h.submit(referral);
    await h.reachesState(id, 'denied');
    const why = words(
      /<section class="why">([\s\S]*?)<\/section>/.exec(
        await (await practice.get(`/console/practice/events/${id}`)).text(),
      )?.[1] ?? '',
    );
    expect(why).toContain(`Bezwaar van: het kind (${childId}), vastgelegd op 19 nov 2026`);
    expect(why).not.toContain('Ontbreekt bij');
  });
});
