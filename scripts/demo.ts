/**
 * `npm run demo`: starts jeugdbrug (embedded storage, in this process) with a stand-in municipality receiver,
 * submits a valid referral, the same referral again, and an invalid one, then prints what the receiver got and
 * each event's final state. Exits 0 only if everything is as expected.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/kernel/config';
import { buildRegistry } from '../src/event/registry';
import { createLogger } from '../src/kernel/logger';
import { startRuntime } from '../src/runtime';
import { buildAgreement, buildDestination, buildReferralEvent } from '../tests/helpers/builders';
import { TestReceiver } from '../tests/helpers/receiver';
import { createTestEnv } from '../tests/helpers/test-runtime';
import { waitFor } from '../tests/helpers/wait-for';

interface Receipt {
  status: string;
  id?: string;
  location: string;
  outcome?: { issue: { expression?: string[]; details?: { text?: string } }[] };
}

async function main(): Promise<number> {
  const receiver = await new TestReceiver().start();
  const testEnv = createTestEnv();
  const env: Record<string, string | undefined> = { ...testEnv.env, LOG_LEVEL: 'warn', REDIS_URL: undefined };
  delete env.DATABASE_URL; // embedded PGlite, as with a plain `npm start`
  const config = loadConfig(env);
  const rt = await startRuntime(config, {
    registry: buildRegistry({ agreements: [buildAgreement()], destinations: [buildDestination(receiver.url)] }),
    logger: createLogger('warn', fs.createWriteStream(path.join(testEnv.dataDir, 'demo.log'))),
  });
  const post = async (body: unknown) => {
    const res = await fetch(`${rt.url}/his/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${testEnv.keys.practice}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { receipts?: Receipt[] };
    return { status: res.status, receipts: json.receipts ?? [] };
  };
  const problems: string[] = [];
  const expect = (ok: boolean, what: string) => {
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) {
      problems.push(what);
    }
  };
  try {
    console.log(`jeugdbrug demo: API ${rt.url}, stand-in municipality ${receiver.url}\n`);
    const valid = buildReferralEvent();
    const invalid = buildReferralEvent({ child: { ...(valid.child as object), bsn: '111222334' } });
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
        const res = await fetch(`${rt.url}/his/v1/events/${id}`, {
          headers: { authorization: `Bearer ${testEnv.keys.practice}` },
        });
        const v = (await res.json()) as { state: string; history: { state: string }[] };
        return ['delivered', 'dead', 'denied', 'failed'].includes(v.state) ? v : undefined;
      },
      30_000,
    ).catch(() => undefined);
    console.log(
      `\nFinal state of ${id}: ${state?.state ?? 'not final within 30 s'} (${state?.history.map((h) => h.state).join(' → ') ?? ''})`,
    );
    expect(state?.state === 'delivered', 'valid referral delivered');

    console.log(`\nThe stand-in municipality received ${receiver.hits.length} request(s):`);
    for (const hit of receiver.stored.values()) {
      const bundle = hit.body as { type: string; entry: { request: { method: string; url: string } }[] };
      console.log(`  Idempotency-Key ${hit.idempotencyKey}: ${bundle.type} Bundle with`);
      bundle.entry.forEach((e) => console.log(`    ${e.request.method} ${e.request.url}`));
    }
    expect(receiver.stored.size === 1, 'the municipality stored exactly one referral');
  } finally {
    await rt.shutdown();
    await receiver.stop();
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
