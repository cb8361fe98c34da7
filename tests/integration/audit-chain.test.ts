import { randomBytes } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import pg from 'pg';
import { purgeExpired } from '../../src/event/retention';
import { canonicalizeJcs, chainHashOfCanonical } from '../../src/audit/chain';
import { chainColumnsOf, columnsLine } from '../../src/audit/chain-columns';
import { indexFieldsOf } from '../../src/audit/index-fields';
import { verifyTenant } from '../../src/audit/verify';
import { AuditWriter } from '../../src/audit/writer';
import { configSchema } from '../../src/kernel/config';
import { createLogger } from '../../src/kernel/logger';
import { Metrics } from '../../src/kernel/metrics';
import { loadPayloadCipher } from '../../src/kernel/payload-crypto';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { appendFormat1 } from '../helpers/audit-format-1';
import { buildDisclosureAuditEvent } from '../helpers/builders';
import { TEST_DATABASE_URL } from '../helpers/test-runtime';

const schema = `t_audit_${randomBytes(5).toString('hex')}`;
let db: Db;
let writer: AuditWriter;
/** A superuser connection, as someone with direct database access would have. */
let admin: pg.Client;

beforeAll(async () => {
  db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4, dataDir: '' });
  await migrate(db);
  writer = new AuditWriter(db);
  admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`SET search_path TO ${schema}`);
});

afterAll(async () => {
  await writer.flush();
  await db.close();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

function event(i: number, recorded?: string): AuditEvent {
  const e = buildDisclosureAuditEvent(i);
  return recorded ? { ...e, recorded } : e;
}

async function appendMany(tenant: string, n: number, recorded?: (i: number) => string): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => writer.append(tenant, event(i, recorded?.(i)))));
}

async function seqsOf(tenant: string): Promise<number[]> {
  return (
    await db.query<{ seq: number }>('SELECT seq::int AS seq FROM audit_event WHERE tenant = $1 ORDER BY seq', [tenant])
  ).map((r) => r.seq);
}

/** Runs `sql` on the admin connection with the append-only trigger switched off, as an attacker with access could. */
async function tamper(sql: string, params: unknown[]): Promise<void> {
  await admin.query('ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update');
  try {
    await admin.query(sql, params);
  } finally {
    await admin.query('ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update');
  }
}

describe('audit chain in PostgreSQL', () => {
  it('verifies an untouched chain up to the head the writer recorded', async () => {
    await appendMany('10000001', 25);
    const v = await verifyTenant(db, '10000001', { pageSize: 7 });
    const [head] = await db.query<{ hash: string }>("SELECT hash FROM audit_chain_head WHERE tenant = '10000001'");
    expect(v).toEqual({ tenant: '10000001', ok: true, rows: 25, headSeq: 25, headHash: head!.hash });
  });

  it('finds a row whose resource was changed directly in the database, at its seq', async () => {
    await appendMany('10000002', 12);
    await tamper(
      `UPDATE audit_event SET resource = jsonb_set(resource::jsonb, '{purposeOfEvent,0,coding,0,code}', '"monitoring"')
       WHERE tenant = $1 AND seq = 7`,
      ['10000002'],
    );
    expect(await verifyTenant(db, '10000002', { pageSize: 5 })).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 7, problem: 'content does not match its hash' }),
    );
  });

  it('finds a search column changed behind the hash, which would hide a row from the child’s overview', async () => {
    await appendMany('10000003', 6);
    await tamper(`UPDATE audit_event SET patient_bsn = '999999990' WHERE tenant = $1 AND seq = 4`, ['10000003']);
    expect(await verifyTenant(db, '10000003')).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 4, problem: 'column patient_bsn does not match the resource' }),
    );
  });

  it.each([
    ['id', 'id = gen_random_uuid()'],
    ['recorded', "recorded = recorded + interval '1 millisecond'"],
    ['type', "type = type || ' '"],
    ['subtype', 'subtype = NULL'],
    ['action', "action = 'C'"],
    ['outcome', "outcome = '4'"],
    ['patient_bsn', 'patient_bsn = NULL'],
    ['agents', "agents = array_append(agents, '')"],
    ['agents', 'agents = agents[2:]'],
    ['entities', 'entities = entities[1:array_length(entities, 1) - 1]'],
    ['entities', `entities[1] = entities[1] || '"'`],
    ['entities', 'entities = ARRAY(SELECT e FROM unnest(entities) WITH ORDINALITY u(e, n) ORDER BY n DESC)'],
  ])('finds column %s changed behind the hash (%s), at its seq', async (column, change) => {
    const tenant = `3${randomBytes(3).readUIntBE(0, 3).toString().padStart(7, '0')}`;
    await appendMany(tenant, 4);
    await tamper(`UPDATE audit_event SET ${change} WHERE tenant = $1 AND seq = 3`, [tenant]);
    expect(await verifyTenant(db, tenant, { pageSize: 2 })).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 3, problem: `column ${column} does not match the resource` }),
    );
  });

  it('stores the exact canonical text it hashed, so verification can hash the stored bytes', async () => {
    await appendMany('10000010', 3);
    const rows = await db.query<{ seq: string; text: string; prev_hash: string; hash: string }>(
      'SELECT seq, resource::text AS text, prev_hash, hash FROM audit_event WHERE tenant = $1 ORDER BY seq',
      ['10000010'],
    );
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      const event = JSON.parse(r.text) as AuditEvent;
      expect(r.text).toBe(canonicalizeJcs(event));
      expect(chainHashOfCanonical(r.prev_hash, Number(r.seq), r.text, columnsLine(chainColumnsOf(event)))).toBe(r.hash);
    }
  });

  it('stores each row of a group as its own text when texts hold escaped line breaks, quotes and backslashes', async () => {
    // Rows travel to PostgreSQL one per line: a line break in the content must stay inside its own row's text.
    const descriptions = ['line one\nline two', 'tab\there "quoted" back\\slash', 'emoji 🙂 and lone \ud800', ''];
    const events = descriptions.map((d, i) => ({ ...event(i), outcomeDesc: d }));
    await Promise.all(events.map((e) => writer.append('10000014', e)));
    const rows = await db.query<{ id: string; text: string }>(
      'SELECT id, resource AS text FROM audit_event WHERE tenant = $1 ORDER BY seq',
      ['10000014'],
    );
    expect(rows.map((r) => r.text)).toEqual(events.map((e) => canonicalizeJcs(e)));
    expect(rows.map((r) => r.id)).toEqual(events.map((e) => e.id));
    expect(await verifyTenant(db, '10000014')).toEqual(expect.objectContaining({ ok: true, rows: 4, headSeq: 4 }));
  });

  it('stores search columns holding quotes, backslashes, commas, braces and the word NULL as they are', async () => {
    // The writer writes the array parameters itself; agents and entities are arrays inside an array, escaped twice.
    const awkward = ['a "quoted" ref', 'back\\slash\\', 'comma, {brace}', 'NULL', ' spaced ', '\\"'];
    const events = awkward.map((s, i) => {
      const e = event(i);
      return {
        ...e,
        type: { ...e.type, code: s },
        subtype: i % 2 === 0 ? [{ code: s }] : undefined,
        agent: [...(e.agent ?? []), { requestor: false, who: { reference: s, identifier: { system: s, value: s } } }],
        entity: [...(e.entity ?? []), { what: { reference: `Thing/${s}` } }, { what: { identifier: { value: s } } }],
      };
    });
    await Promise.all(events.map((e) => writer.append('10000015', e)));
    const rows = await db.query<{ type: string; subtype: string | null; agents: string[]; entities: string[] }>(
      'SELECT type, subtype, agents, entities FROM audit_event WHERE tenant = $1 ORDER BY seq',
      ['10000015'],
    );
    expect(rows).toEqual(
      events.map((e) => {
        const f = indexFieldsOf(e);
        return { type: f.type, subtype: f.subtype, agents: f.agents, entities: f.entities };
      }),
    );
    expect(rows[0]?.agents).toContain('a "quoted" ref|a "quoted" ref');
    expect(rows[3]?.subtype).toBeNull();
    expect(await verifyTenant(db, '10000015')).toEqual(expect.objectContaining({ ok: true, rows: awkward.length }));
  });

  it('finds stored text changed byte for byte (still canonical, same length), at its seq', async () => {
    await appendMany('10000011', 9);
    // The edit an attacker would make to keep the text canonical: the outcome 0 (success) becomes 4 (failure).
    await tamper(
      `UPDATE audit_event SET resource = replace(resource::text, '"outcome":"0"', '"outcome":"4"')::json
       WHERE tenant = $1 AND seq = 6`,
      ['10000011'],
    );
    const [changed] = await db.query<{ text: string }>(
      'SELECT resource::text AS text FROM audit_event WHERE tenant = $1 AND seq = 6',
      ['10000011'],
    );
    expect(changed!.text).toContain('"outcome":"4"');
    expect(await verifyTenant(db, '10000011', { pageSize: 4 })).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 6, problem: 'content does not match its hash' }),
    );
  });

  it('still verifies rows whose text is not canonical but says the same (rows stored as jsonb before 010)', async () => {
    // Rows that old are chain format 1.
    await appendFormat1(
      db,
      '10000012',
      Array.from({ length: 5 }, (_, i) => event(i)),
    );
    // jsonb's own rendering (spaces, its key order): what the migration from jsonb left in older rows.
    await tamper('UPDATE audit_event SET resource = resource::jsonb::json WHERE tenant = $1 AND seq IN (2, 4)', [
      '10000012',
    ]);
    const [legacy] = await db.query<{ text: string }>(
      'SELECT resource::text AS text FROM audit_event WHERE tenant = $1 AND seq = 2',
      ['10000012'],
    );
    expect(legacy!.text).not.toBe(canonicalizeJcs(JSON.parse(legacy!.text)));
    expect(await verifyTenant(db, '10000012', { pageSize: 3 })).toEqual(
      expect.objectContaining({ ok: true, rows: 5, headSeq: 5 }),
    );
    // …and such a row changed in content is still found, at its seq.
    await tamper(
      `UPDATE audit_event SET resource = (resource::jsonb || '{"outcome":"8"}')::jsonb::json
       WHERE tenant = $1 AND seq = 4`,
      ['10000012'],
    );
    expect(await verifyTenant(db, '10000012', { pageSize: 3 })).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 4, problem: 'content does not match its hash' }),
    );
  });
  it('finds the newest rows deleted, which leaves no broken link behind', async () => {
    await appendMany('10000004', 8);
    await tamper('DELETE FROM audit_event WHERE tenant = $1 AND seq > 5', ['10000004']);
    expect(await verifyTenant(db, '10000004')).toEqual(
      expect.objectContaining({
        ok: false,
        brokenAtSeq: 6,
        problem: expect.stringContaining('rows 6 to 8 are missing'),
      }),
    );
  });

  it('refuses UPDATE, DELETE and TRUNCATE of audit rows, even for a superuser', async () => {
    await appendMany('10000005', 2);
    await expect(admin.query(`UPDATE audit_event SET outcome = '4' WHERE tenant = '10000005'`)).rejects.toThrow(
      /append-only: UPDATE refused/,
    );
    await expect(admin.query(`DELETE FROM audit_event WHERE tenant = '10000005'`)).rejects.toThrow(
      /append-only: DELETE refused/,
    );
    await expect(admin.query('TRUNCATE audit_event')).rejects.toThrow(/append-only: TRUNCATE refused/);
    expect(await seqsOf('10000005')).toEqual([1, 2]);
  });

  it('keeps every chain linear when two writers on two connection pools append to the same tenants at once', async () => {
    const other = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 4, dataDir: '' });
    const second = new AuditWriter(other, 37);
    const tenants = ['20000001', '20000002', '20000003'];
    try {
      const work: Promise<void>[] = [];
      for (let round = 0; round < 4; round++) {
        for (const [w, i] of [
          [writer, 0],
          [second, 1],
        ] as const) {
          for (const tenant of tenants) {
            for (let k = 0; k < 50; k++) {
              work.push(w.append(tenant, event(round * 1000 + i * 100 + k)));
            }
          }
        }
        // Interleave the rounds with the event loop so both writers have several flushes in flight.
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(work);
    } finally {
      await second.flush();
      await other.close();
    }
    for (const tenant of tenants) {
      const seqs = await seqsOf(tenant);
      expect(seqs).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
      expect(await verifyTenant(db, tenant)).toEqual(expect.objectContaining({ ok: true, rows: 400, headSeq: 400 }));
    }
  });

  it('rejects only the group that failed; the next goes on from the real head, and the chain stays linear', async () => {
    // Groups of two: the second fails (an AuditEvent id already stored), after the first moved the head.
    const pipelined = new AuditWriter(db, 2);
    await pipelined.append('10000013', event(0));
    const duplicate = {
      ...event(1),
      id: (await db.query<{ id: string }>("SELECT id::text AS id FROM audit_event WHERE tenant = '10000013'"))[0]!.id,
    };
    const outcomes = await Promise.allSettled(
      [event(2), event(3), duplicate, event(4), event(5), event(6), event(7), event(8)].map((e) =>
        pipelined.append('10000013', e),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    expect(await seqsOf('10000013')).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await verifyTenant(db, '10000013')).toEqual(expect.objectContaining({ ok: true, rows: 7, headSeq: 7 }));
    // The writer goes on from the real head.
    await pipelined.append('10000013', event(9));
    expect(await verifyTenant(db, '10000013')).toEqual(expect.objectContaining({ ok: true, rows: 8, headSeq: 8 }));
  });

  it('has each group on its way to PostgreSQL before the appends of the group before it resolve', async () => {
    // pg's pool hands a query its connection on the next tick; a tick queued right after the call runs once the
    // statement is written. Callers resolved before that would build their next events while PostgreSQL waits.
    const steps: string[] = [];
    const watched: Db = {
      ...db,
      query: <T>(sql: string, params?: readonly unknown[]) => {
        const result = db.query<T>(sql, params);
        if (sql.includes('audit_event')) {
          process.nextTick(() => steps.push('sent'));
        }
        return result;
      },
    };
    const grouped = new AuditWriter(watched, 10);
    await grouped.append('10000021', event(0));
    steps.length = 0;
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        grouped.append('10000021', event(i + 1)).then(() => steps.push(`resolved ${Math.floor(i / 10)}`)),
      ),
    );
    const firstOf = (step: string): number => steps.indexOf(step);
    expect(firstOf('resolved 0')).toBeGreaterThan(steps.indexOf('sent', steps.indexOf('sent') + 1));
    expect(firstOf('resolved 1')).toBeGreaterThan(steps.lastIndexOf('sent'));
    expect(await verifyTenant(db, '10000021')).toEqual(expect.objectContaining({ ok: true, rows: 31, headSeq: 31 }));
  });
});

describe('retention purge', () => {
  const config = { ...configSchema.parse({}), dataDir: '', configDir: '' };
  const log = createLogger('silent');
  // The inbox's key: the purge keeps the identity of referrals whose content it clears (none in this file).
  const cipher = loadPayloadCipher(`k1:${randomBytes(32).toString('base64')}`, '');
  // Real time: rows appended by other tests in this file carry today's date and must not count as expired.
  const now = new Date();
  const sixYearsAgo = (i: number): string =>
    new Date(now.getTime() - 6 * 365 * 24 * 3600_000 + i * 60_000).toISOString();

  it('deletes expired rows from the oldest end, records a checkpoint, and keeps the chain verifiable', async () => {
    const tenant = '30000001';
    await appendMany(tenant, 5, sixYearsAgo);
    await appendMany(tenant, 3);
    const report = await purgeExpired({ db, cipher, audit: writer, config, log }, now);
    expect(report.chains).toContainEqual({ tenant, purgedRows: 5, checkpointSeq: 5 });
    expect(await seqsOf(tenant)).toEqual([6, 7, 8, 9]);
    const [purge] = await db.query<{ resource: AuditEvent }>(
      `SELECT resource::json AS resource FROM audit_event WHERE tenant = $1 AND seq = 9`,
      [tenant],
    );
    expect(purge!.resource.subtype?.[0]?.code).toBe('purge');
    expect(purge!.resource.entity?.[0]?.what?.reference).toBe(`audit_checkpoint/${tenant}/5`);
    expect(await verifyTenant(db, tenant)).toEqual(
      expect.objectContaining({
        ok: true,
        rows: 4,
        headSeq: 9,
        checkpoint: expect.objectContaining({ seq: 5, purgedRows: 5 }),
      }),
    );
    // Nothing more to purge: a second run changes nothing in this chain.
    const again = await purgeExpired({ db, cipher, audit: writer, config, log }, now);
    expect(again.chains.find((c) => c.tenant === tenant)).toBeUndefined();
  });

  it('refuses any delete but the sanctioned one, and UPDATE always', async () => {
    const tenant = '30000002';
    await appendMany(tenant, 4, sixYearsAgo);
    await appendMany(tenant, 2);
    await purgeExpired({ db, cipher, audit: writer, config, log }, now);
    expect(await seqsOf(tenant)).toEqual([5, 6, 7]);
    const inPurgeTransaction = async (sql: string): Promise<void> => {
      await admin.query('BEGIN');
      try {
        await admin.query("SET LOCAL jeugdbrug.audit_purge = 'on'");
        await admin.query(sql);
      } finally {
        await admin.query('ROLLBACK');
      }
    };
    // Declaring the purge does not allow deleting rows past the checkpoint, nor any UPDATE.
    await expect(inPurgeTransaction(`DELETE FROM audit_event WHERE tenant = '${tenant}' AND seq = 5`)).rejects.toThrow(
      /append-only: DELETE refused/,
    );
    await expect(inPurgeTransaction(`UPDATE audit_event SET outcome = '4' WHERE tenant = '${tenant}'`)).rejects.toThrow(
      /append-only: UPDATE refused/,
    );
    await expect(admin.query(`DELETE FROM audit_checkpoint WHERE tenant = '${tenant}'`)).rejects.toThrow(
      /audit_checkpoint is append-only/,
    );
    expect(await verifyTenant(db, tenant)).toEqual(expect.objectContaining({ ok: true, headSeq: 7 }));
  });

  it('does not purge a chain that fails verification, so the evidence stays', async () => {
    const tenant = '30000003';
    await appendMany(tenant, 4, sixYearsAgo);
    await tamper(
      `UPDATE audit_event SET resource = resource::jsonb || '{"outcome":"8"}' WHERE tenant = $1 AND seq = 2`,
      [tenant],
    );
    const report = await purgeExpired({ db, cipher, audit: writer, config, log }, now);
    expect(report.skipped).toContainEqual({ tenant, reason: expect.stringContaining('seq 2') });
    expect(await seqsOf(tenant)).toEqual([1, 2, 3, 4]);
  });

  it('never leaves a purge without its AuditEvent: when the event cannot be written, nothing is purged', async () => {
    const tenant = '30000005';
    await appendMany(tenant, 4, sixYearsAgo);
    await appendMany(tenant, 2);
    // The purge AuditEvent cannot be written, as if the process died between the delete and the event: a trigger
    // refuses its row.
    await admin.query(
      `CREATE FUNCTION refuse_purge_event() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'purge AuditEvent refused by the test'; END $$`,
    );
    await admin.query(
      `CREATE TRIGGER refuse_purge_event BEFORE INSERT ON audit_event FOR EACH ROW
       WHEN (NEW.tenant = '30000005' AND NEW.subtype = 'purge') EXECUTE FUNCTION refuse_purge_event()`,
    );
    let outcome: Awaited<ReturnType<typeof purgeExpired>> | Error;
    try {
      outcome = await purgeExpired({ db, cipher, audit: writer, config, log }, now).catch((err: Error) => err);
    } finally {
      await admin.query('DROP TRIGGER refuse_purge_event ON audit_event');
      await admin.query('DROP FUNCTION refuse_purge_event()');
    }
    // Not half done: every row is still there, no checkpoint was recorded, and the chain verifies.
    expect(await seqsOf(tenant)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await db.query('SELECT seq FROM audit_checkpoint WHERE tenant = $1', [tenant])).toEqual([]);
    expect(await verifyTenant(db, tenant)).toEqual(expect.objectContaining({ ok: true, headSeq: 6 }));
    // The run goes on with the other chains and says why this one was left alone.
    expect(outcome).not.toBeInstanceOf(Error);
    expect((outcome as Awaited<ReturnType<typeof purgeExpired>>).skipped).toContainEqual({
      tenant,
      reason: expect.stringContaining('purge AuditEvent could not be written'),
    });
    // The next run purges, its AuditEvent with it.
    const again = await purgeExpired({ db, cipher, audit: writer, config, log }, now);
    expect(again.chains).toContainEqual({ tenant, purgedRows: 4, checkpointSeq: 4 });
    expect(await seqsOf(tenant)).toEqual([5, 6, 7]);
    expect(await verifyTenant(db, tenant)).toEqual(
      expect.objectContaining({ ok: true, headSeq: 7, checkpoint: expect.objectContaining({ seq: 4 }) }),
    );
    // The writer that left the head at 6 before the purge appends after the purge's AuditEvent.
    await writer.append(tenant, event(99));
    expect(await verifyTenant(db, tenant)).toEqual(expect.objectContaining({ ok: true, headSeq: 8 }));
  });

  // The retention run checks only the rows it is about to delete: an intact verdict on those said nothing of the rest,
  // yet it set the verify metric of a chain a whole verification had found broken back to 1 (alert cleared).
  it('leaves the verify metric at 0 for a chain known broken whose rows to delete are intact', async () => {
    const tenant = '30000009';
    await appendMany(tenant, 4, sixYearsAgo);
    await appendMany(tenant, 2);
    await tamper(
      `UPDATE audit_event SET resource = resource::jsonb || '{"outcome":"8"}' WHERE tenant = $1 AND seq = 6`,
      [tenant],
    );
    const metrics = new Metrics({ queueDepths: () => Promise.resolve([]) });
    const verifyOk = async () =>
      (await metrics.auditVerifyOk.get()).values.find((v) => v.labels.tenant === tenant)?.value;
    // A whole verification found it broken in a row the purge keeps.
    expect(await verifyTenant(db, tenant)).toMatchObject({ ok: false, brokenAtSeq: 6 });
    metrics.recordAuditVerify(tenant, false);
    const report = await purgeExpired({ db, cipher, audit: writer, config, log, metrics }, now);
    expect(report.chains).toContainEqual({ tenant, purgedRows: 4, checkpointSeq: 4 });
    expect(await verifyOk()).toBe(0);
  });

  // Recording a chain broken (audit_chain_integrity) is not the purge's own work: when that write failed, the run
  // must still purge the chains after it.
  it('purges the other chains when recording a chain broken fails', async () => {
    const broken = '30000010';
    const next = '30000011';
    await appendMany(broken, 3, sixYearsAgo);
    await appendMany(next, 3, sixYearsAgo);
    await appendMany(next, 1);
    await tamper(
      `UPDATE audit_event SET resource = resource::jsonb || '{"outcome":"8"}' WHERE tenant = $1 AND seq = 2`,
      [broken],
    );
    await admin.query(
      `CREATE FUNCTION refuse_integrity() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'integrity record refused by the test'; END $$`,
    );
    await admin.query(
      `CREATE TRIGGER refuse_integrity BEFORE INSERT OR UPDATE ON audit_chain_integrity FOR EACH ROW
       WHEN (NEW.tenant = '${broken}') EXECUTE FUNCTION refuse_integrity()`,
    );
    const lines: Record<string, unknown>[] = [];
    const logged = createLogger('error', {
      write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>),
    });
    let report: Awaited<ReturnType<typeof purgeExpired>>;
    try {
      report = await purgeExpired({ db, cipher, audit: writer, config, log: logged }, now);
    } finally {
      await admin.query('DROP TRIGGER refuse_integrity ON audit_chain_integrity');
      await admin.query('DROP FUNCTION refuse_integrity()');
    }
    expect(report.skipped).toContainEqual({ tenant: broken, reason: expect.stringContaining('seq 2') });
    expect(report.chains).toContainEqual({ tenant: next, purgedRows: 3, checkpointSeq: 3 });
    expect(await seqsOf(next)).toEqual([4, 5]);
    expect(lines).toContainEqual(
      expect.objectContaining({ tenant: broken, msg: 'could not record the audit chain as broken' }),
    );
  });

  it('verifies a chain whose purge commits while it is being verified', async () => {
    const tenant = '30000006';
    await appendMany(tenant, 4, sixYearsAgo);
    await appendMany(tenant, 2);
    // The purge commits just after verification read where the chain starts (no checkpoint yet).
    let purged = false;
    const racing: Db = {
      ...db,
      query: async <T>(sql: string, params?: readonly unknown[]): Promise<T[]> => {
        const rows = await db.query<T>(sql, params);
        if (!purged && sql.includes('FROM audit_checkpoint')) {
          purged = true;
          await purgeExpired({ db, cipher, audit: writer, config, log }, now);
        }
        return rows;
      },
    };
    expect(await verifyTenant(racing, tenant)).toEqual(
      expect.objectContaining({ ok: true, headSeq: 7, checkpoint: expect.objectContaining({ seq: 4 }) }),
    );
    expect(purged).toBe(true);
  });

  it('clears the payloads of finished events past their retention, and audits it per practice', async () => {
    const old = new Date(now.getTime() - 31 * 24 * 3600_000).toISOString();
    const recent = new Date(now.getTime() - 2 * 24 * 3600_000).toISOString();
    const rows: [string, string, string][] = [
      ['aaaaaaaa-0000-4000-8000-000000000001', 'delivered', old],
      ['aaaaaaaa-0000-4000-8000-000000000002', 'decided', old],
      ['aaaaaaaa-0000-4000-8000-000000000003', 'delivered', recent],
      ['aaaaaaaa-0000-4000-8000-000000000004', 'dead', old],
      // Stored, its practice never told it was accepted, and never sent again: its content goes too.
      ['aaaaaaaa-0000-4000-8000-000000000005', 'unacknowledged', old],
    ];
    for (const [id, state, at] of rows) {
      await db.query(
        `INSERT INTO inbox (id, tenant, source_event_id, dialect, event_type, state, payload, payload_key_id, trace_id,
           received_at, updated_at)
         VALUES ($1::uuid, '30000004', $1::text, 'generic-json', 'referral.created', $2, '\\x0102'::bytea, 'k1', 't', $3, $3)`,
        [id, state, at],
      );
    }
    const report = await purgeExpired({ db, cipher, audit: writer, config, log }, now);
    expect(report.payloadsCleared).toBe(3);
    const left = await db.query<{ id: string; cleared: boolean }>(
      `SELECT id, payload IS NULL AND payload_key_id IS NULL AS cleared FROM inbox WHERE tenant = '30000004' ORDER BY id`,
    );
    expect(left.map((r) => r.cleared)).toEqual([true, false, false, true, true]);
    const [audit] = await db.query<{ resource: AuditEvent }>(
      `SELECT resource::json AS resource FROM audit_event WHERE tenant = '30000004' AND subtype = 'purge'`,
    );
    expect(audit!.resource.entity?.[0]).toEqual(
      expect.objectContaining({
        what: { reference: 'inbox' },
        description: expect.stringContaining('content of 3 finished events'),
      }),
    );
  });
});
