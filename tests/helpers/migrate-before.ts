import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../../src/kernel/db';

/** Applies the migrations numbered below `number`, as a database last migrated before it was. */
export async function migrateBefore(db: Db, number: string): Promise<void> {
  const dir = path.resolve(__dirname, '../../src/kernel/migrations');
  await db.exec('CREATE TABLE schema_migration (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}_.+\.sql$/.test(f) && f < number)
    .sort()) {
    await db.exec(fs.readFileSync(path.join(dir, file), 'utf8'));
    await db.query('INSERT INTO schema_migration (name) VALUES ($1)', [file]);
  }
}
