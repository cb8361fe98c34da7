import type { Db } from '../../src/kernel/db';

export interface RecordedStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/**
 * Runs `fn` with a Db over `db` that notes every parameterised statement sent through it, in transactions too: the
 * statements a piece of product code makes, to EXPLAIN each with its own parameters (the custom plan it gets).
 */
export async function statementsOf(db: Db, fn: (db: Db) => Promise<unknown>): Promise<RecordedStatement[]> {
  const seen: RecordedStatement[] = [];
  const recording = (inner: Db): Db => ({
    ...inner,
    query: (sql, params) => {
      if (params && params.length > 0) {
        seen.push({ sql, params });
      }
      return inner.query(sql, params);
    },
    transaction: (f) => inner.transaction((tx) => f(recording(tx))),
  });
  await fn(recording(db));
  return seen;
}
