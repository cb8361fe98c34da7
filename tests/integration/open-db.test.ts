import { openDb } from '../../src/kernel/db';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

describe('opening PostgreSQL', () => {
  const schema = `open_db_${process.pid}`;

  afterAll(() => dropSchema(schema));

  // Several processes started at once on a new schema (compose's replicas, a rolling start) each create it.
  it('opens one new schema from many connections at once', async () => {
    for (let round = 0; round < 5; round++) {
      await dropSchema(schema);
      const opened = await Promise.allSettled(
        Array.from({ length: 8 }, () => openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 1, dataDir: '' })),
      );
      const failures = opened.filter((o) => o.status === 'rejected').map((o) => String(o.reason));
      for (const o of opened) {
        if (o.status === 'fulfilled') {
          await o.value.close();
        }
      }
      expect(failures).toEqual([]);
    }
  });
});
