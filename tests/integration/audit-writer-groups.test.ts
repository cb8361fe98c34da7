import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type * as chain from '../../src/audit/chain';
import { chainHashOfLaidOut } from '../../src/audit/chain';
import { verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { buildDisclosureAuditEvent as event } from '../helpers/builders';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// Counts the rows hashed, to see when the writer hashes a group (the real hash still runs).
jest.mock('../../src/audit/chain', () => {
  const actual = jest.requireActual<typeof chain>('../../src/audit/chain');
  return { ...actual, chainHashOfLaidOut: jest.fn(actual.chainHashOfLaidOut) };
});
const hashed = chainHashOfLaidOut as jest.MockedFunction<typeof chainHashOfLaidOut>;

const schema = `t_audit_groups_${randomBytes(5).toString('hex')}`;
let db: Db;

beforeAll(async () => {
  db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4, dataDir: '' });
  await migrate(db);
});

afterAll(async () => {
  await db.close();
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

/**
 * `db` with the next group statement held back until `release`, and then sent, or failed with `err` without reaching
 * PostgreSQL.
 */
function holdingNextGroup(): { db: Db; held: Promise<void>; release: (err?: Error) => void; groups: number[] } {
  let release: (err?: Error) => void = () => {};
  const gate = new Promise<Error | undefined>((resolve) => {
    release = resolve;
  });
  let holding: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    holding = resolve;
  });
  let armed = true;
  const groups: number[] = [];
  const holdingDb: Db = {
    ...db,
    query: async <T>(sql: string, params?: readonly unknown[]): Promise<T[]> => {
      if (sql.includes('INSERT INTO audit_event')) {
        // $2 is the group's seqs, a binary array: its length stands in the header's fourth word.
        groups.push((params?.[1] as Buffer).readInt32BE(12));
      }
      if (armed && sql.includes('INSERT INTO audit_event')) {
        armed = false;
        holding();
        const err = await gate;
        if (err) {
          throw err;
        }
      }
      return db.query<T>(sql, params);
    },
  };
  return { db: holdingDb, held, release, groups };
}

describe('AuditWriter groups', () => {
  it('hashes the next group while the group before it is still on its way to PostgreSQL', async () => {
    const { db: holdingDb, held, release } = holdingNextGroup();
    const writer = new AuditWriter(holdingDb, 10);
    // The chain head is read under its lock once; from then on groups are hashed onto the head the writer knows.
    await writer.append('30000001', event(0));
    hashed.mockClear();
    const appended = Array.from({ length: 20 }, (_, i) => writer.append('30000001', event(i + 1)));
    await held;
    await waitFor('the second group hashed while the first is held', () => hashed.mock.calls.length === 20, 5_000);
    release();
    await Promise.all(appended);
    expect(await verifyTenant(db, '30000001')).toEqual(expect.objectContaining({ ok: true, rows: 21, headSeq: 21 }));
  });

  it('goes on from the real head when a group fails after the next was hashed onto it', async () => {
    const { db: holdingDb, held, release } = holdingNextGroup();
    const writer = new AuditWriter(holdingDb, 10);
    await writer.append('30000002', event(0));
    hashed.mockClear();
    const first = Array.from({ length: 10 }, (_, i) => writer.append('30000002', event(i + 1)));
    const second = Array.from({ length: 10 }, (_, i) => writer.append('30000002', event(i + 11)));
    await held;
    await waitFor('the second group hashed', () => hashed.mock.calls.length === 20, 5_000);
    release(new Error('connection lost'));
    expect((await Promise.allSettled(first)).map((o) => o.status)).toEqual(Array(10).fill('rejected'));
    expect((await Promise.allSettled(second)).map((o) => o.status)).toEqual(Array(10).fill('fulfilled'));
    expect(await verifyTenant(db, '30000002')).toEqual(expect.objectContaining({ ok: true, rows: 11, headSeq: 11 }));
    // And the writer goes on after it.
    await writer.append('30000002', event(21));
    expect(await verifyTenant(db, '30000002')).toEqual(expect.objectContaining({ ok: true, rows: 12, headSeq: 12 }));
  });

  it('still puts rows appended after the next group was hashed into that group when it has room', async () => {
    const { db: holdingDb, held, release, groups } = holdingNextGroup();
    const writer = new AuditWriter(holdingDb, 10);
    await writer.append('30000003', event(0));
    const first = Array.from({ length: 10 }, (_, i) => writer.append('30000003', event(i + 1)));
    const early = Array.from({ length: 3 }, (_, i) => writer.append('30000003', event(i + 11)));
    await held;
    hashed.mockClear();
    await waitFor('the next group hashed', () => hashed.mock.calls.length === 3, 5_000);
    const late = Array.from({ length: 4 }, (_, i) => writer.append('30000003', event(i + 14)));
    release();
    await Promise.all([...first, ...early, ...late]);
    expect(groups).toEqual([10, 7]);
    expect(await verifyTenant(db, '30000003')).toEqual(expect.objectContaining({ ok: true, rows: 18, headSeq: 18 }));
  });
});
