import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { insertInboxRows } from '../helpers/inbox-rows';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

// The console speaks the page's language: what the pipeline, the policy and the API record or answer in English
// (reason codes with their detail, field diagnostics) is said in words, and nothing is capitalised as a sentence
// that is an id.
describe('the console says what it shows in the language of the page', () => {
  let app: TestApp;
  let practice: ConsoleClient;

  beforeAll(async () => {
    app = await startTestApp({ env: { ROLE: 'api' } });
    practice = await openConsole(app, 'practice');
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const db = () => app.rt.ctx.db;
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

    const list = await text(practice, '/console/practice?state=denied');
    expect(list).toContain(words);
    expect(list).not.toContain('no consent from');

    const event = await text(practice, `/console/practice/events/${id}`);
    expect(event).toContain(words);
    expect(event).not.toContain('no consent from');
  });
});
