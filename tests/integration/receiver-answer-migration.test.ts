import { randomBytes } from 'node:crypto';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { insertDeadLetters } from '../helpers/inbox-rows';
import { migrateBefore } from '../helpers/migrate-before';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/** Migration 025: the receivers' answers kept in plain text before it are gone after it, in every table. */
describe('a database whose receivers answered before migration 025', () => {
  const schema = `t_answers_${randomBytes(5).toString('hex')}`;
  let db: Db;
  const echo = JSON.stringify({
    echo: { identifier: [{ system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '123456782' }] },
  });

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
    await migrateBefore(db, '025');
  });

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('drops the plain answers and keeps the rows, their outcome and state', async () => {
    const ids = await insertDeadLetters(db, 'gm0226', 3);
    await db.query(`UPDATE delivery SET response_body = $1`, [echo]);
    await db.query(
      `INSERT INTO trajectory_event (id, tenant, municipality, source_event_id, event_type, submitted_by, decision,
         decision_reason, idempotency_key, state, last_status, response_body, trace_id)
       VALUES (gen_random_uuid(), '01234567', 'GM0226', 'te-1', 'intake', 'municipality', 'permit', 'ok', 'k-1', 'dead',
         500, $1, 't')`,
      [echo],
    );
    // The migration under test is the first one applied, whatever comes after it.
    expect((await migrate(db))[0]).toBe('025_receiver_answer_sealed.sql');

    for (const table of ['delivery', 'feedback', 'trajectory_event']) {
      const columns = await db.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2
           AND column_name LIKE 'response%' ORDER BY column_name`,
        [schema, table],
      );
      expect(columns.map((c) => c.column_name)).toEqual(['response_key_id', 'response_sealed', 'response_summary']);
    }
    const rows = await db.query<{ row: string; state: string; last_status: number }>(
      `SELECT d::text AS row, state, last_status FROM delivery d WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    expect(rows.map((r) => [r.state, r.last_status])).toEqual(ids.map(() => ['dead', 422]));
    const [trajectory] = await db.query<{ row: string }>(`SELECT t::text AS row FROM trajectory_event t`);
    for (const row of [...rows.map((r) => r.row), trajectory!.row]) {
      expect(row).not.toContain('123456782');
    }
  });
});
