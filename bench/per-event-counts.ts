import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Redis } from 'ioredis';
import { idempotencyKeyOf } from '../src/event/idempotency-key';
import { buildContactEvent, buildDestination, buildReferralEvent } from '../tests/helpers/builders';
import { TestReceiver } from '../tests/helpers/receiver';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../tests/helpers/test-runtime';
import { waitFor } from '../tests/helpers/wait-for';
import { cpuSeconds, startDeployment, writeSyscalls, type Deployment } from './deployment';
import { postJson } from './http-client';

/**
 * Counts per event that the machine's load moves little, for comparing two versions on a busy machine: SQL statements
 * sent (`pg_stat_statements`, top level only), Redis scripts and commands (`INFO commandstats`, commands run inside
 * scripts included), the product's write system calls and its CPU time, over `events` events after a warm-up of 300.
 * The product runs as the pipeline bench runs it (bench/deployment.ts, one ROLE=all process). It needs a PostgreSQL of
 * one's own with `shared_preload_libraries=pg_stat_statements` and the extension created in the database of
 * TEST_DATABASE_URL (its statistics are reset), and a redis-server of one's own at TEST_REDIS_URL (CONFIG RESETSTAT).
 * The statement and command counts fall as groups grow (stage-batch.ts), so compare runs that kept up alike.
 *
 *   npx tsx bench/per-event-counts.ts <events/s, one per POST | batch (POSTs of 100, four in flight)> <events> [contact]
 */
const mode = process.argv[2] ?? '200';
const total = Number(process.argv[3] ?? 2000);
const kind = process.argv[4] ?? 'referral';
const DESTINATION_ID = buildDestination('http://127.0.0.1/').id;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const build = (): Record<string, unknown> => (kind === 'contact' ? buildContactEvent() : buildReferralEvent());

async function submit(d: Deployment, events: unknown[]): Promise<string[]> {
  const res = await postJson(
    agent,
    `${d.url}/his/v1/events`,
    d.testEnv.keys.practice,
    JSON.stringify(events.length === 1 ? events[0] : events),
  );
  if (res.status !== 202) {
    throw new Error(`${res.status} ${res.body.slice(0, 300)}`);
  }
  return (JSON.parse(res.body) as { receipts: { id: string }[] }).receipts.map((r) => r.id);
}

async function send(d: Deployment, n: number): Promise<string[]> {
  const ids: string[] = [];
  if (mode === 'batch') {
    const batches: unknown[][] = [];
    for (let i = 0; i < n; i += 100) {
      batches.push(Array.from({ length: Math.min(100, n - i) }, build));
    }
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let b = batches[next++]; b; b = batches[next++]) {
        ids.push(...(await submit(d, b)));
      }
    };
    await Promise.all([lane(), lane(), lane(), lane()]);
    return ids;
  }
  const rate = Number(mode);
  const sends: Promise<void>[] = [];
  const started = performance.now();
  while (sends.length < n) {
    const due = Math.min(n, Math.floor((performance.now() - started) / (1000 / rate)) + 1);
    while (sends.length < due) {
      const e = build();
      sends.push(submit(d, [e]).then(([id]) => void ids.push(id!)));
    }
    await sleep(1);
  }
  await Promise.all(sends);
  return ids;
}

async function main(): Promise<void> {
  const receiver = await new TestReceiver().start();
  const d = await startDeployment(receiver.url, { workers: 0 });
  const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
  const redis = new Redis(TEST_REDIS_URL);
  const stored = async (ids: string[]) =>
    waitFor('stored', () => ids.every((i) => receiver.stored.has(idempotencyKeyOf(i, DESTINATION_ID))), 300_000, 20);
  try {
    await stored(await send(d, 300));
    await sleep(500);
    await db.query('SELECT pg_stat_statements_reset()');
    await redis.config('RESETSTAT');
    const pid = d.api.pid;
    const cpu0 = cpuSeconds(pid);
    const w0 = writeSyscalls(pid);
    const t0 = Date.now();
    const ids = await send(d, total);
    await stored(ids);
    const secs = (Date.now() - t0) / 1000;
    const cpu = (1000 * (cpuSeconds(pid) - cpu0)) / ids.length;
    const writes = (writeSyscalls(pid) - w0) / ids.length;
    const { rows } = await db.query<{ calls: string; query: string }>(
      `SELECT calls, query FROM pg_stat_statements
        WHERE toplevel AND query NOT ILIKE '%pg_stat_statements%' AND calls > 0 ORDER BY calls DESC`,
    );
    const stmts = rows.reduce((s, r) => s + Number(r.calls), 0) / ids.length;
    const info = await redis.info('commandstats');
    const cmds = info
      .split('\n')
      .map((l) => /^cmdstat_([^:]+):calls=(\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => !!m && m[1] !== 'info' && m[1] !== 'config')
      .map((m) => ({ cmd: m[1]!, calls: Number(m[2]) }))
      .sort((a, b) => b.calls - a.calls);
    const evals = cmds.filter((c) => /^eval/.test(c.cmd)).reduce((s, c) => s + c.calls, 0);
    console.log(
      `mode=${mode} kind=${kind} events=${ids.length} in ${secs.toFixed(1)} s; product CPU ${cpu.toFixed(2)} ms/event; ` +
        `write syscalls ${writes.toFixed(1)}/event; SQL ${stmts.toFixed(2)}/event; Redis scripts ${(evals / ids.length).toFixed(2)}/event`,
    );
    for (const r of rows.slice(0, 25)) {
      console.log(`  sql ${(Number(r.calls) / ids.length).toFixed(3)}  ${r.query.replace(/\s+/g, ' ').slice(0, 150)}`);
    }
    console.log('  redis ' + cmds.map((c) => `${c.cmd} ${(c.calls / ids.length).toFixed(2)}`).join(', '));
  } finally {
    await db.end();
    redis.disconnect();
    await d.stop();
    await receiver.stop();
  }
}

void main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
