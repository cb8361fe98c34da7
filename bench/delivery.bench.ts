import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Resource } from '@medplum/fhirtypes';
import { FORMATS, getAdapter } from '../mappings/municipality/index';
import type { Endpoint } from '../src/contracts/destination';
import type { HttpDeps } from '../mappings/municipality/shared/transport';
import { TokenCache } from '../mappings/municipality/shared/oauth2';
import { initFhirValidation } from '../src/kernel/fhir/validation';
import { tryGetDialect } from '../mappings/his/index';
import { minimise } from '../src/policy/minimise';
import { buildAgreement, buildReferralEvent } from '../tests/helpers/builders';
import { runStandalone, type BenchResult } from './result';

/**
 * The adapters alone: map the (minimised) resources of one referral, sign or authenticate, POST to a receiver on
 * 127.0.0.1 that answers 200 at once, read the answer. No queue, no database: the ceiling the adapters put on a
 * deliver worker, not the pipeline's throughput (pipeline.bench.ts measures that).
 */
const RUN = { warmup: 300, seconds: 4, concurrency: 32 } as const;
const SECRET_ENV = 'BENCH_WEBHOOK_SECRET';

async function startReceiver(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"resourceType":"Bundle","type":"transaction-response"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A realistic payload: a referral mapped as the pipeline maps it, cut to the test agreement's allow-list. */
function referralResources(): Resource[] {
  initFhirValidation();
  const event = tryGetDialect('generic-json')!.map({ value: buildReferralEvent(), location: '' });
  const fields = Object.fromEntries(
    Object.entries(buildAgreement().dataClasses).map(([type, v]) => [type, v?.fields ?? []]),
  );
  return minimise(event.resources, fields);
}

/** Runs `once` from `concurrency` loops until `done()`; returns how many calls finished. */
async function drive(once: () => Promise<unknown>, done: () => boolean): Promise<number> {
  let calls = 0;
  const loop = async () => {
    while (!done()) {
      await once();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: RUN.concurrency }, loop));
  return calls;
}

function deliverOnce(
  adapter: string,
  endpoint: Endpoint,
  resources: readonly Resource[],
  deps: HttpDeps,
): () => Promise<unknown> {
  const impl = getAdapter(adapter);
  let n = 0;
  return () =>
    impl.deliver(
      endpoint,
      resources,
      {
        idempotencyKey: `bench-${adapter}-${n++}`,
        traceId: 'bench',
        eventType: 'referral.created',
        defaultTimeoutMs: 10_000,
      },
      deps,
    );
}

export async function benchDelivery(): Promise<BenchResult[]> {
  const receiver = await startReceiver();
  const deps: HttpDeps = { tokens: new TokenCache({}), env: { [SECRET_ENV]: 'bench-secret' } };
  const resources = referralResources();
  const results: BenchResult[] = [];
  try {
    const calls = FORMATS.map((f) => f.adapter.name).map((adapter) => {
      const endpoint: Endpoint = {
        id: `bench-${adapter}`,
        adapter,
        baseUrl: `${receiver.url}/${adapter}`,
        auth: adapter === 'webhook' ? { type: 'hmac', secretEnv: SECRET_ENV } : { type: 'none' },
      };
      return { adapter, once: deliverOnce(adapter, endpoint, resources, deps) };
    });
    // Warm every adapter up before measuring any (JIT, connection pool), so the order does not decide the figure.
    for (const { once } of calls) {
      let warm = 0;
      await drive(once, () => warm++ >= RUN.warmup);
    }
    for (const { adapter, once } of calls) {
      const start = process.hrtime.bigint();
      const end = Date.now() + RUN.seconds * 1000;
      const done = await drive(once, () => Date.now() >= end);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      results.push({ name: `delivery.${adapter}.per_s`, value: done / seconds, unit: 'deliveries/s' });
    }
  } finally {
    await receiver.close();
  }
  return results;
}

// `npx tsx bench/delivery.bench.ts` runs this group on its own.
if (require.main === module) {
  runStandalone(benchDelivery);
}
