import { buildReferralEvent } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// A practice saw its referral as "afgeleverd" and nothing more: not that the municipality accepted it and issued its
// decision, nor the waiting days, though GET /his/v1/events/{id} answers them (`referralStatus`). The event page now
// shows the municipality's steps as the municipality's own page does, and the list the current one.
describe("the practice's console shows the municipality's answer to a referral", () => {
  const h = useAppWithReceiver();
  let practice: ConsoleClient;
  let id = '';
  let referralId = '';

  beforeAll(async () => {
    practice = await openConsole(h.app, 'practice');
    const event = buildReferralEvent();
    referralId = (event.referral as { id: string }).id;
    const res = await h.app.request('/his/v1/events', { json: event });
    id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]?.id ?? '';
    await waitFor('the referral delivered', async () => {
      const [row] = await h.app.rt.ctx.db.query<{ state: string }>(`SELECT state FROM inbox WHERE id = $1`, [id]);
      return row?.state === 'delivered';
    });
  });

  const page = async (path: string) => {
    const res = await practice.get(path);
    expect(res.status).toBe(200);
    return res.text();
  };
  const listRow = (text: string) =>
    new RegExp(`<tr class="state-[a-z]+">(?:(?!</tr>)[\\s\\S])*?/console/practice/events/${id}"[\\s\\S]*?</tr>`).exec(
      text,
    )?.[0] ?? '';

  it('says there is no status yet before the municipality sent one', async () => {
    const text = await page(`/console/practice/events/${id}`);
    expect(text).toContain('<h2>Status bij de gemeente</h2>');
    expect(text).toContain('Nog geen status van de gemeente ontvangen.');
    expect(listRow(await page('/console/practice'))).toContain('<td>nog geen</td>');
  });

  it("shows each status on its own date, whether it reached the HIS, and the waiting days, as the API's event", async () => {
    for (const body of [
      { status: 'accepted', date: '2026-11-23' },
      {
        status: 'decision-issued',
        decision: { number: 'B-1', date: '2026-12-01', productCategory: '45', period: { start: '2026-12-07' } },
      },
    ]) {
      const res = await h.app.request(`/municipality/v1/referrals/${referralId}/status`, {
        json: body,
        key: 'municipality',
      });
      expect(res.status).toBe(202);
    }
    const api = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as {
      referralStatus: { current: string; steps: unknown[]; waitingDays: Record<string, number> };
    };
    expect(api.referralStatus.current).toBe('decision-issued');
    expect(api.referralStatus.waitingDays).toEqual({
      referralToAccepted: 3,
      acceptedToDecision: 8,
      referralToDecision: 11,
    });

    const text = await page(`/console/practice/events/${id}`);
    const section = /<section class="referral-status">([\s\S]*?)<\/section>/.exec(text)?.[1] ?? '';
    expect(section).toMatch(
      /<time datetime="2026-11-23">23 nov 2026<\/time>\s*<strong>Aangenomen door de gemeente<\/strong>/,
    );
    expect(section).toMatch(/<time datetime="2026-12-01">1 dec 2026<\/time>\s*<strong>Beschikking afgegeven<\/strong>/);
    expect([...section.matchAll(/<time datetime=/g)]).toHaveLength(api.referralStatus.steps.length);
    expect(section).toContain('<li>verwijzing → aangenomen: 3 dagen</li>');
    expect(section).toContain('<li>aangenomen → beschikking: 8 dagen</li>');
    expect(section).toContain('<li>verwijzing → beschikking: 11 dagen</li>');
    expect(section).not.toContain('Nog geen status');

    expect(listRow(await page('/console/practice'))).toContain('<td>Beschikking afgegeven</td>');
  });
});
