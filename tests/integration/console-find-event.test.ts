import { OTHER_PRACTICE_AGB } from '../helpers/builders';
import { useConsoleApp } from '../helpers/console-client';
import { insertInboxRows } from '../helpers/inbox-rows';

// A practice on the phone knows its own event id ("evt-0004"), not jeugdbrug's UUID: among thousands of events the
// practice had only "older" clicks to find it, and the operator's event page took only the UUID. Both find an
// event by the practice's own id now (an id, no personal data: it may be in a URL).
describe("the console finds an event by the practice's own event id", () => {
  const h = useConsoleApp(['practice', 'operator']);
  const c = h.consoles;
  const db = () => h.app.rt.ctx.db;
  let id = '';
  let eventId = '';

  beforeAll(async () => {
    const ids = await insertInboxRows(db(), 'denied', 150);
    id = ids[3] ?? '';
    const [row] = await db().query<{ source_event_id: string }>('SELECT source_event_id FROM inbox WHERE id = $1', [
      id,
    ]);
    eventId = row?.source_event_id ?? '';
    // Another practice's event under the same id of its own.
    await db().query(
      `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, trace_id)
       VALUES (gen_random_uuid(), $1, $2, 'generic-json', 'referral.created', 'delivered', 't')`,
      [OTHER_PRACTICE_AGB, eventId],
    );
  });

  const text = async (client: 'practice' | 'operator', path: string) => {
    const res = await c[client].get(path);
    expect(res.status).toBe(200);
    return res.text();
  };
  const linked = (page: string, prefix: string) =>
    [...page.matchAll(new RegExp(`href="${prefix}([0-9a-f-]{36})"`, 'g'))].map((m) => m[1]);

  it("lists only the practice's own event with that id", async () => {
    const page = await text('practice', `/console/practice?eventId=${encodeURIComponent(eventId)}`);
    expect(linked(page, '/console/practice/events/')).toEqual([id]);
    expect(page).toMatch(new RegExp(`<input[^>]*name="eventId"[^>]*value="${eventId}"`));
  });

  it("finds the event by the practice's id on the operator's event page, each practice's", async () => {
    const page = await text('operator', `/console/operator/events?id=${encodeURIComponent(eventId)}`);
    const found = linked(page, '/console/operator/events\\?id=');
    expect(found).toHaveLength(2);
    expect(found).toContain(id);
    expect(page).toContain(OTHER_PRACTICE_AGB);
    const one = await text('operator', `/console/operator/events?id=${encodeURIComponent(eventId)}&practice=01234567`);
    expect(one).toContain(`${eventId} (${id})`);
  });
});
