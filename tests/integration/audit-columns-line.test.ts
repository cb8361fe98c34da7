import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chainColumnsOf, columnsLine, COLUMNS_LINE_SQL } from '../../src/audit/chain-columns';
import { verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { awkwardEvents } from '../helpers/audit-awkward';
import { buildDisclosureAuditEvent } from '../helpers/builders';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * Chain format 2 hashes a line of the search columns that the writer makes in JavaScript and PostgreSQL makes again
 * from the stored columns when it verifies. These tests hold the two to the same bytes for values that need escaping
 * or could be confused: were they to drift, every row would fail verification.
 */
const events = awkwardEvents;

describe('the search columns line on PostgreSQL', () => {
  const schema = `t_columns_line_${randomBytes(5).toString('hex')}`;
  let db: Db;

  beforeAll(async () => {
    db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4, dataDir: '' });
    await migrate(db);
    const writer = new AuditWriter(db);
    await Promise.all(events.map((e) => writer.append('10000001', e)));
  }, 60_000);

  afterAll(async () => {
    await db.close();
    await dropSchema(schema);
  });

  it('is made by PostgreSQL from the stored columns byte for byte as the writer made it from the AuditEvent', async () => {
    const rows = await db.query<{ line: string }>(
      `SELECT ${COLUMNS_LINE_SQL} AS line FROM audit_event WHERE tenant = '10000001' ORDER BY seq`,
    );
    expect(rows.map((r) => r.line)).toEqual(events.map((e) => columnsLine(chainColumnsOf(e))));
    // Nulls, empty strings and empty lists stay apart.
    expect(rows[0]?.line).toContain(', null, ');
    expect(rows[6]?.line).toContain(', "", ');
    expect(rows[0]?.line).toMatch(/, \[\]\]$/);
  });

  it('does not depend on the session’s time zone and date style', async () => {
    const lines = await db.transaction(async (tx) => {
      await tx.query("SET LOCAL TimeZone = 'America/Caracas'");
      await tx.query("SET LOCAL DateStyle = 'SQL, DMY'");
      return tx.query<{ line: string }>(
        `SELECT ${COLUMNS_LINE_SQL} AS line FROM audit_event WHERE tenant = '10000001' ORDER BY seq`,
      );
    });
    expect(lines.map((r) => r.line)).toEqual(events.map((e) => columnsLine(chainColumnsOf(e))));
  });

  it('stores each recorded time to the millisecond the AuditEvent says, before 1970 and 2000 and with an offset', async () => {
    // The writer sends the times in binary, as microseconds from PostgreSQL's epoch (2000-01-01): negative before it.
    const recorded = [
      '1969-07-20T20:17:40.001Z',
      '1999-12-31T23:59:59.999Z',
      '2000-01-01T00:00:00.000Z',
      '2026-12-04T23:59:59.999+01:00',
      '2026-03-29T02:30:00.5Z',
      '2200-01-01T00:00:00.007Z',
    ];
    const timed = recorded.map((r, i) => ({ ...buildDisclosureAuditEvent(i), recorded: r }));
    const writer = new AuditWriter(db);
    await Promise.all(timed.map((e) => writer.append('10000002', e)));
    const rows = await db.query<{ recorded_ms: string; line: string }>(
      `SELECT (extract(epoch FROM recorded) * 1000)::bigint::text AS recorded_ms, ${COLUMNS_LINE_SQL} AS line
       FROM audit_event WHERE tenant = '10000002' ORDER BY seq`,
    );
    expect(rows.map((r) => Number(r.recorded_ms))).toEqual(recorded.map((r) => Date.parse(r)));
    expect(rows.map((r) => r.line)).toEqual(timed.map((e) => columnsLine(chainColumnsOf(e))));
    expect(await verifyTenant(db, '10000002')).toEqual(expect.objectContaining({ ok: true, rows: recorded.length }));
  });

  it('lets the chain of such rows verify', async () => {
    expect(await verifyTenant(db, '10000001')).toEqual(
      expect.objectContaining({ ok: true, rows: events.length, headSeq: events.length }),
    );
  });
});

describe('the search columns line on embedded PGlite', () => {
  it('is made and verified there as on PostgreSQL, a changed column is named, and older rows verify too', () => {
    const root = path.resolve(__dirname, '../..');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-columns-line-'));
    try {
      // PGlite does not load under Jest: the rows are written and verified in a process of its own.
      const run = spawnSync(
        path.join(root, 'node_modules/.bin/tsx'),
        ['tests/helpers/columns-line-pglite.ts', dataDir],
        { cwd: root, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 60_000 },
      );
      expect(run.stderr).toBe('');
      const result = JSON.parse(run.stdout) as {
        lines: string[];
        expected: string[];
        intact: unknown;
        tampered: unknown;
        mixed: unknown;
      };
      expect(result.lines).toEqual(result.expected);
      expect(result.lines).toHaveLength(events.length);
      expect(result.intact).toEqual(expect.objectContaining({ ok: true, rows: events.length }));
      expect(result.tampered).toEqual(
        expect.objectContaining({
          ok: false,
          brokenAtSeq: 7,
          problem: 'column patient_bsn does not match the resource',
        }),
      );
      expect(result.mixed).toEqual(expect.objectContaining({ ok: true, rows: 6, headSeq: 6 }));
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
