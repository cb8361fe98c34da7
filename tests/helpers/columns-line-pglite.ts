import { chainColumnsOf, columnsLine, COLUMNS_LINE_SQL } from '../../src/audit/chain-columns';
import { verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { openDb } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { awkwardEvents } from './audit-awkward';
import { appendFormat1 } from './audit-format-1';
import { buildDisclosureAuditEvent } from './builders';

/**
 * Run by tests/integration/audit-columns-line.test.ts in a process of its own (PGlite does not load under Jest):
 * writes the awkward rows into embedded PGlite under the data directory given, and prints as JSON the columns lines
 * PGlite makes of them, the writer's, and the verdicts before and after a search column is changed, and on a chain
 * of format 1 and format 2 rows.
 */
async function main(dataDir: string): Promise<void> {
  const db = await openDb({ databaseUrl: undefined, schema: 'jeugdbrug', poolSize: 1, dataDir });
  try {
    await migrate(db);
    const writer = new AuditWriter(db);
    await Promise.all(awkwardEvents.map((e) => writer.append('10000001', e)));
    const lines = await db.query<{ line: string }>(
      `SELECT ${COLUMNS_LINE_SQL} AS line FROM audit_event WHERE tenant = '10000001' ORDER BY seq`,
    );
    const intact = await verifyTenant(db, '10000001');
    await db.exec(`ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update;
      UPDATE audit_event SET patient_bsn = '999999990' WHERE tenant = '10000001' AND seq = 7;
      ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update`);
    const tampered = await verifyTenant(db, '10000001');
    // A chain begun before migration 015: its format 1 rows are checked here while PostgreSQL checks the rest.
    await appendFormat1(
      db,
      '10000002',
      [0, 1, 2].map((i) => buildDisclosureAuditEvent(i)),
    );
    await Promise.all([3, 4, 5].map((i) => writer.append('10000002', buildDisclosureAuditEvent(i))));
    const mixed = await verifyTenant(db, '10000002');
    process.stdout.write(
      `${JSON.stringify({
        lines: lines.map((r) => r.line),
        expected: awkwardEvents.map((e) => columnsLine(chainColumnsOf(e))),
        intact,
        tampered,
        mixed,
      })}\n`,
    );
  } finally {
    await db.close();
  }
}

void main(process.argv[2] ?? '');
