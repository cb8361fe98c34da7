/**
 * `npm run demo`: the README's loop on the shipped config/. Starts `npm run receiver` (the stand-in municipality and
 * practice HIS on 127.0.0.1:9090, where config/ points) and jeugdbrug (embedded storage, in this process), then:
 * records a consent, submits a valid referral with an invalid one and the valid one again, waits for `delivered`,
 * reads the municipality's copy, sends status back by the identifier it received, and checks that the practice got
 * each status and sees the timeline. Exits 0 only if all of that held.
 *
 * On a shared host, or to inspect its audit trail afterwards, it takes the product's own settings when given:
 * `RECEIVER_PORT` (the stand-in's port; config/ is then used from a copy pointing there, unless `CONFIG_DIR` names
 * one), `PORT`, `DATABASE_URL` (with `DATABASE_SCHEMA`; the rows stay there), `REDIS_URL` and `DATA_DIR` (kept, as
 * its signing keys are). Unset, it behaves as before: port 9090, any free API port, embedded storage in a temporary
 * directory, the Redis `npm start` finds (127.0.0.1:6379, else one it starts). Its queue keys, under a prefix of its
 * own, go when it ends: nothing reads them afterwards.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/kernel/config';
import { loadRegistry } from '../src/event/registry';
import { createLogger } from '../src/kernel/logger';
import { isRedisUp } from '../src/kernel/redis';
import { describeRedisTarget, redisTargetOf } from '../src/kernel/redis-client';
import { startRuntime } from '../src/runtime';
import { buildConsentEvent, buildReferralEvent } from '../tests/helpers/builders';
import { createTestEnv, deleteQueueKeys } from '../tests/helpers/test-runtime';
import { waitFor } from '../tests/helpers/wait-for';

/** Where the shipped config/ sends the municipality's copy and the practice's status updates. */
const SHIPPED_RECEIVER = '127.0.0.1:9090';
const RECEIVER_PORT = process.env.RECEIVER_PORT ?? '9090';
const RECEIVER_ADDRESS = `127.0.0.1:${RECEIVER_PORT}`;
const RECEIVER = `http://${RECEIVER_ADDRESS}`;

/**
 * The configuration directory: `CONFIG_DIR` when given, else the shipped config/, copied to `scratch` with its
 * receiver URLs moved when the stand-in listens elsewhere (the shipped files stay as they are).
 */
function configDir(scratch: string): string | undefined {
  if (process.env.CONFIG_DIR || RECEIVER_ADDRESS === SHIPPED_RECEIVER) {
    return process.env.CONFIG_DIR;
  }
  const copy = path.join(scratch, 'config');
  fs.cpSync(path.join(__dirname, '../config'), copy, { recursive: true });
  for (const file of fs.readdirSync(copy, { recursive: true, encoding: 'utf8' })) {
    const full = path.join(copy, file);
    if (fs.statSync(full).isFile()) {
      const text = fs.readFileSync(full, 'utf8');
      fs.writeFileSync(full, text.replaceAll(SHIPPED_RECEIVER, RECEIVER_ADDRESS));
    }
  }
  return copy;
}

interface Receipt {
  status: string;
  id?: string;
  location: string;
  outcome?: { issue: { expression?: string[]; details?: { text?: string } }[] };
}

async function main(): Promise<number> {
  const receiver = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, '../src/cli/stand-in-receiver.ts')],
    {
      env: { PATH: process.env.PATH, RECEIVER_PORT },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const receiverUp = await waitFor(
    `npm run receiver on ${RECEIVER_ADDRESS}`,
    async () => receiver.exitCode === null && (await fetch(`${RECEIVER}/received`).catch(() => undefined))?.ok,
    30_000,
  ).catch(() => false);
  if (!receiverUp) {
    receiver.kill();
    console.error(
      `Demo FAILED: the stand-in receiver could not listen on ${RECEIVER_ADDRESS} (is something else there? ` +
        'RECEIVER_PORT moves it)',
    );
    return 1;
  }
  const testEnv = createTestEnv();
  const env: Record<string, string | undefined> = {
    ...testEnv.env,
    LOG_LEVEL: 'warn',
    // Not the tests' TEST_REDIS_URL that createTestEnv put there: as `npm start` finds one, unless given.
    REDIS_URL: process.env.REDIS_URL || undefined,
    PORT: process.env.PORT ?? '0',
    // As with a plain `npm start`: PostgreSQL when DATABASE_URL is given, else embedded PGlite (in the temporary
    // directory, gone afterwards).
    DATABASE_URL: process.env.DATABASE_URL || undefined,
    DATABASE_SCHEMA: process.env.DATABASE_URL ? process.env.DATABASE_SCHEMA : undefined,
    DATA_DIR: process.env.DATA_DIR || testEnv.dataDir,
    // The payload key of that data directory (generated there on first start), unless one is given: a `npm start` on
    // the same DATA_DIR and database reads what the demo stored.
    INBOX_KEYS: process.env.INBOX_KEYS || undefined,
    CONFIG_DIR: configDir(testEnv.dataDir),
  };
  const config = loadConfig(env);
  const rt = await startRuntime(config, {
    registry: loadRegistry(config.CONFIG_DIR),
    logger: createLogger('warn', fs.createWriteStream(path.join(testEnv.dataDir, 'demo.log'))),
  });
  const call = async (pathname: string, key: 'practice' | 'municipality', body?: unknown) => {
    const res = await fetch(`${rt.url}${pathname}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${testEnv.keys[key]}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const post = async (body: unknown) => {
    const res = await call('/his/v1/events', 'practice', body);
    return { status: res.status, receipts: (res.json.receipts ?? []) as Receipt[] };
  };
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => {
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) {
      problems.push(what);
    }
  };
  try {
    console.log(
      `jeugdbrug demo on ${config.CONFIG_DIR}: API ${rt.url}, stand-in municipality ${RECEIVER}/fhir, ` +
        `practice ${RECEIVER}/his, storage ${config.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded, temporary'}, ` +
        `Redis ${describeRedisTarget(redisTargetOf(config, rt.redisUrl))}\n`,
    );
    const valid = buildReferralEvent();
    const invalid = buildReferralEvent({ child: { ...(valid.child as object), bsn: '111222334' } });
    const consent = await post(
      buildConsentEvent(valid, { givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }] }),
    );
    expect(consent.receipts[0]?.status === 'accepted', 'consent of the child and the guardian recorded');
    const first = await post([valid, invalid]);
    const second = await post(valid);
    console.log('Submitted [valid, invalid] and then the valid one again; receipts:');
    for (const r of [...first.receipts, ...second.receipts]) {
      const why = r.outcome?.issue.map((i) => `${i.expression?.join(',') ?? ''}: ${i.details?.text ?? ''}`).join('; ');
      console.log(`  ${r.location || '(single)'} ${r.status}${r.id ? ` id=${r.id}` : ''}${why ? ` (${why})` : ''}`);
    }
    const id = first.receipts[0]?.id ?? '';
    expect(first.status === 202 && first.receipts[0]?.status === 'accepted', 'valid referral accepted');
    expect(
      first.receipts[1]?.status === 'rejected' &&
        !!first.receipts[1]?.outcome?.issue[0]?.expression?.includes('[1].child.bsn'),
      'invalid BSN rejected, naming [1].child.bsn',
    );
    expect(
      second.receipts[0]?.status === 'duplicate' && second.receipts[0]?.id === id,
      'resubmission recognised as the same event',
    );

    const state = await waitFor(
      'delivery',
      async () => {
        const v = (await call(`/his/v1/events/${id}`, 'practice')).json as {
          state: string;
          stateReason: string | null;
          history: { state: string }[];
        };
        return ['delivered', 'dead', 'denied', 'failed'].includes(v.state) ? v : undefined;
      },
      30_000,
    ).catch(() => undefined);
    console.log(
      `\nFinal state of ${id}: ${state?.state ?? 'not final within 30 s'}${state?.stateReason ? ` (${state.stateReason})` : ''} (${state?.history.map((h) => h.state).join(' → ') ?? ''})`,
    );
    expect(state?.state === 'delivered', 'valid referral delivered');

    const copy = (await (await fetch(`${RECEIVER}/fhir/ServiceRequest`)).json()) as {
      total: number;
      entry?: { resource: { identifier?: { system?: string; value?: string }[] } }[];
    };
    const identifier = copy.entry?.[0]?.resource.identifier?.find((i) => i.system?.startsWith('urn:agb:'));
    console.log(
      `\nThe stand-in municipality holds ${copy.total} referral(s); identifier ${identifier?.system}|${identifier?.value}`,
    );
    expect(copy.total === 1 && !!identifier?.value, 'the municipality holds exactly one referral, with its identifier');

    const ref = encodeURIComponent(identifier?.value ?? '');
    const statuses = [
      { status: 'accepted', date: '2026-11-23' },
      {
        status: 'decision-issued',
        decision: { number: 'B-2026-0042', date: '2026-12-01', productCategory: '45', period: { start: '2026-12-07' } },
      },
    ];
    for (const body of statuses) {
      const res = await call(`/municipality/v1/referrals/${ref}/status`, 'municipality', body);
      expect(res.status === 202, `municipality sends ${body.status} by the identifier it received`);
    }
    const tasks = await waitFor(
      'the status updates at the practice',
      async () => {
        const b = (await (await fetch(`${RECEIVER}/his/Task`)).json()) as {
          entry?: { resource: { businessStatus?: { coding?: { code?: string }[] } } }[];
        };
        // No `entry` at all while nothing arrived (FHIR JSON has no empty arrays).
        return b.entry && b.entry.length >= 2
          ? b.entry.map((e) => e.resource.businessStatus?.coding?.[0]?.code)
          : undefined;
      },
      30_000,
    ).catch(() => undefined);
    console.log(`\nThe practice's HIS received Tasks: ${tasks?.join(', ') ?? 'none'}`);
    expect(tasks?.join() === 'accepted,decision-issued', 'the practice received each status as a Task');
    const view = (await call(`/his/v1/events/${id}`, 'practice')).json as {
      referralStatus?: { waitingDays: Record<string, number> };
    };
    console.log(`The practice's timeline: waiting days ${JSON.stringify(view.referralStatus?.waitingDays)}`);
    expect(view.referralStatus?.waitingDays.referralToDecision === 11, 'the practice sees the waiting times');
  } finally {
    await rt.shutdown();
    receiver.kill();
    // A Redis that outlives the demo (found on 6379, or given) would keep its queue keys for good, under a prefix no
    // one else uses. A redis-server the product started for it has stopped with it.
    if (await isRedisUp(rt.redisUrl)) {
      await deleteQueueKeys(config.QUEUE_PREFIX, rt.redisUrl);
    }
    fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
  }
  console.log(problems.length ? `\nDemo FAILED: ${problems.join('; ')}` : '\nDemo passed.');
  return problems.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`Demo crashed: ${err.message}`);
    process.exit(1);
  },
);
