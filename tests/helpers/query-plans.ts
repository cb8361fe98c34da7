import type { Db } from '../../src/kernel/db';

/**
 * The plans of the statements `run` sends through `db`, each run under EXPLAIN instead (`analyze`: EXPLAIN (ANALYZE,
 * COSTS OFF), the rows each step read), in the order sent. The statements return no rows meanwhile.
 */
export async function plansOf(
  db: Db,
  run: () => Promise<unknown>,
  opts: { analyze?: boolean } = {},
): Promise<string[]> {
  const query = db.query.bind(db);
  const explain = opts.analyze ? 'EXPLAIN (ANALYZE, COSTS OFF)' : 'EXPLAIN';
  const plans: string[] = [];
  const spy = jest.spyOn(db, 'query').mockImplementation(async (sql, params) => {
    const rows = await query<{ 'QUERY PLAN': string }>(`${explain} ${sql}`, params);
    plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
    return [];
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return plans;
}
