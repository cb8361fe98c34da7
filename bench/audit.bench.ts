import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { disclosure, SYSTEM_WORKER } from '../src/audit/audit-events';
import { verifyTenant } from '../src/audit/verify';
import { AuditWriter } from '../src/audit/writer';
import { openDb, type Db } from '../src/kernel/db';
import { migrate } from '../src/kernel/migrate';
import { TEST_DATABASE_URL } from '../tests/helpers/test-runtime';
import { runStandalone, type BenchResult } from './result';

/**
 * The audit trail against the real PostgreSQL: how many AuditEvents per second the group-committing writer makes
 * durable when many jobs append at once, and how fast a chain is recomputed by verification (paged, as in
 * production). Each run works in its own schema and drops it afterwards.
 */
const APPEND = { warmup: 2_000, rows: 40_000, inFlight: 2_000, tenants: 1 } as const;

function event(i: number): ReturnType<typeof disclosure> {
  return disclosure({
    actor: SYSTEM_WORKER,
    outcome: '0',
    patientBsn: '111222333',
    inboxId: `bench-${i}`,
    municipality: 'GM0226',
    destination: 'gm0226',
    purpose: 'referral',
    resources: ['Patient/p-1', 'RelatedPerson/g-1', `ServiceRequest/s-${i}`],
    agreement: { id: 'bench-agreement', version: 1 },
    consentIds: ['c-1'],
  });
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

/**
 * CPU µs (user + system) the PostgreSQL backends serving this bench's pool have used so far, from /proc: there when
 * the server runs on this machine, as in the bench; undefined otherwise. A backend that exits meanwhile drops out.
 */
async function backendCpuMicros(db: Db, applicationName: string): Promise<number | undefined> {
  const backends = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
    applicationName,
  ]);
  let ticks = 0;
  for (const { pid } of backends) {
    try {
      // Fields 14 and 15 (utime, stime) in clock ticks; the command name before them may hold spaces.
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return undefined;
    }
  }
  // Linux reports in USER_HZ, 100 per second on every platform Node runs on.
  return ticks * 10_000;
}

/** `after - before`, per row, when both are known. */
function perRow(before: number | undefined, after: number | undefined, rows: number): string {
  return before === undefined || after === undefined ? '?' : ((after - before) / rows).toFixed(1);
}

/** Appends `total` events with at most `inFlight` unresolved at a time, spread over the tenants; returns seconds. */
async function appendAll(writer: AuditWriter, total: number, offset = 0): Promise<number> {
  const started = process.hrtime.bigint();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await writer.append(`${10_000_000 + ((offset + i) % APPEND.tenants)}`, event(offset + i));
    }
  };
  await Promise.all(Array.from({ length: APPEND.inFlight }, lane));
  return Number(process.hrtime.bigint() - started) / 1e9;
}

export async function benchAudit(): Promise<BenchResult[]> {
  const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
  // Named, so that the CPU of the PostgreSQL backends serving this bench can be told from everyone else's.
  const db = await openDb({
    databaseUrl: `${TEST_DATABASE_URL}?application_name=${schema}`,
    schema,
    poolSize: 10,
    dataDir: '',
  });
  try {
    await migrate(db);
    const writer = new AuditWriter(db);
    await appendAll(writer, APPEND.warmup);
    const appendCpu = process.cpuUsage();
    const appendPg = await backendCpuMicros(db, schema);
    const appendSeconds = await appendAll(writer, APPEND.rows, APPEND.warmup);
    await writer.flush();
    const appendCpuUs = cpuMicros(process.cpuUsage(appendCpu));
    const appendPgUs = perRow(appendPg, await backendCpuMicros(db, schema), APPEND.rows);

    const verifyPg = await backendCpuMicros(db, schema);
    const verifyCpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    let verified = 0;
    for (let t = 0; t < APPEND.tenants; t++) {
      const v = await verifyTenant(db, `${10_000_000 + t}`);
      if (!v.ok) {
        throw new Error(`bench chain ${t} does not verify: ${v.problem}`);
      }
      verified += v.rows;
    }
    const verifySeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const verifyCpuUs = cpuMicros(process.cpuUsage(verifyCpu));
    const verifyPgUs = perRow(verifyPg, await backendCpuMicros(db, schema), verified);
    // CPU per row of this process (events built, canonical JSON, hashing, pg) and of the PostgreSQL backends serving
    // it: what other load on a shared machine moves least. The server's background processes (WAL writer,
    // checkpointer, autovacuum) are not in it.
    process.stderr.write(
      `bench: audit ${APPEND.rows} rows appended in ${appendSeconds.toFixed(1)} s (µs CPU per row: ${(appendCpuUs / APPEND.rows).toFixed(1)} here, ${appendPgUs} PostgreSQL), ` +
        `${verified} verified in ${verifySeconds.toFixed(1)} s (µs CPU per row: ${(verifyCpuUs / verified).toFixed(1)} here, ${verifyPgUs} PostgreSQL)\n`,
    );
    return [
      { name: 'audit.rows_per_s', value: APPEND.rows / appendSeconds, unit: 'rows/s' },
      { name: 'audit.verify_rows_per_s', value: verified / verifySeconds, unit: 'rows/s' },
    ];
  } finally {
    await db.close();
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

// `npx tsx bench/audit.bench.ts` runs this group on its own.
if (require.main === module) {
  runStandalone(benchAudit);
}
