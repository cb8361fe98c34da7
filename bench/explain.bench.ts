import fs from 'node:fs';
import http from 'node:http';
import { buildConsentEvent, buildReferralEvent, PRACTICE_AGB } from '../tests/helpers/builders';
import { TestReceiver } from '../tests/helpers/receiver';
import { startDeployment, writeSyscalls } from './deployment';
import { postJson as post, type Answer } from './http-client';
import { runStandalone, type BenchResult } from './result';

/**
 * `POST /policy/v1/$explain` over HTTP against the product's API in its own process (ROLE=api, PostgreSQL), with one
 * stored consent for the child: 16 keep-alive connections, each sending its next request as soon as the last is
 * answered. Every answer is a decision read from the consent registry and an audited read (durable before the
 * answer), so this is the whole request path, not the engine alone.
 */

const CONNECTIONS = 16;
const WARM_UP_MS = 2_000;
const MEASURE_MS = 10_000;

/**
 * User and system CPU of a process so far (ms), from /proc: the product's CPU per request is a figure that other work
 * on a shared machine moves far less than the request rate.
 */
function processCpuMs(pid: number | undefined): { user: number; system: number } {
  const fields =
    fs
      .readFileSync(`/proc/${pid ?? 0}/stat`, 'utf8')
      .split(') ')[1]
      ?.split(' ') ?? [];
  const ms = (ticks: string | undefined) => (Number(ticks) * 1000) / CLOCK_TICKS_PER_S;
  return { user: ms(fields[11]), system: ms(fields[12]) };
}

/** USER_HZ, which Linux fixes at 100 for /proc on every architecture the product runs on. */
const CLOCK_TICKS_PER_S = 100;

/** Runs the lanes for `ms`; returns answered requests and each one's latency in ms. */
async function load(send: () => Promise<Answer>, ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = performance.now() + ms;
  const lane = async (): Promise<void> => {
    while (performance.now() < until) {
      const started = performance.now();
      const answer = await send();
      if (answer.status !== 200) {
        throw new Error(`$explain answered ${answer.status}: ${answer.body.slice(0, 300)}`);
      }
      latencies.push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, lane));
  return latencies;
}

export async function benchExplain(): Promise<BenchResult[]> {
  const receiver = await new TestReceiver().start();
  const d = await startDeployment(receiver.url, { apiOnly: true });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    const referral = buildReferralEvent();
    const consent = buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] });
    const stored = await post(agent, `${d.url}/his/v1/events`, d.testEnv.keys.practice, JSON.stringify(consent));
    if (stored.status !== 202) {
      throw new Error(`the consent was not accepted: ${stored.status} ${stored.body.slice(0, 300)}`);
    }
    const child = referral.child as { bsn: string; birthDate: string };
    const body = JSON.stringify({
      practice: PRACTICE_AGB,
      municipality: 'GM0226',
      purpose: 'referral',
      dataClasses: ['Patient', 'ServiceRequest'],
      child: { bsn: child.bsn, birthDate: child.birthDate },
      guardians: [{ relatedPersonId: 'g1', hasAuthority: true }],
    });
    const send = () => post(agent, `${d.url}/policy/v1/$explain`, d.testEnv.keys.practice, body);
    const first = await send();
    if (first.status !== 200 || !first.body.includes('"decision"')) {
      throw new Error(`$explain answered ${first.status}: ${first.body.slice(0, 300)}`);
    }
    await load(send, WARM_UP_MS);
    const cpuBefore = processCpuMs(d.api.pid);
    const writesBefore = writeSyscalls(d.api.pid);
    const started = performance.now();
    const latencies = await load(send, MEASURE_MS);
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = processCpuMs(d.api.pid);
    const writesPerRequest = (writeSyscalls(d.api.pid) - writesBefore) / latencies.length;
    const userMs = (cpuAfter.user - cpuBefore.user) / latencies.length;
    const systemMs = (cpuAfter.system - cpuBefore.system) / latencies.length;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.min(latencies.length - 1, Math.ceil(0.99 * latencies.length) - 1)] ?? 0;
    process.stderr.write(
      `bench: $explain ${latencies.length} requests in ${seconds.toFixed(1)} s, p99 ${p99.toFixed(1)} ms, ` +
        `product CPU per request ${userMs.toFixed(3)} ms user + ${systemMs.toFixed(3)} ms system, ` +
        // One per answer, plus the statements and Redis commands of its group's share: how well they were grouped.
        `${writesPerRequest.toFixed(2)} write system calls per request\n`,
    );
    return [
      { name: 'explain.requests_per_s', value: latencies.length / seconds, unit: 'requests/s' },
      { name: 'explain.p99_ms', value: p99, unit: 'ms' },
    ];
  } finally {
    agent.destroy();
    await d.stop();
    await receiver.stop();
  }
}

// `npx tsx bench/explain.bench.ts` runs this group on its own.
if (require.main === module) {
  runStandalone(benchExplain);
}
