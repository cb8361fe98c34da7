import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { exited, freePort, spawnProduct } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const BURST = 6;
/**
 * 0.01/s: one request per 100 s steadily, and the rest of the burst over 600 s; far longer than the test, so no
 * request is let through by a window ending.
 */
const RATE = 0.01;

describe('the per-principal rate limit is shared by every API process through Redis', () => {
  const testEnv = createTestEnv({ RATE_LIMIT_BURST: String(BURST), RATE_LIMIT_PER_S: String(RATE) });
  const processes: ChildProcess[] = [];
  const urls: string[] = [];

  beforeAll(async () => {
    for (const i of [0, 1]) {
      const port = await freePort();
      const log = path.join(testEnv.dataDir, `api-${i}.log`);
      processes.push(spawnProduct({ ...testEnv.env, ROLE: 'api', PORT: String(port) }, log));
      urls.push(`http://127.0.0.1:${port}`);
      // One after the other: both run the migrations otherwise, and one waits for the other's advisory lock anyway.
      await waitFor(
        `API process ${i} to listen`,
        () => fs.readFileSync(log, 'utf8').includes('API listening'),
        60_000,
        200,
      );
    }
  });

  afterAll(async () => {
    for (const p of processes) {
      p.kill('SIGTERM');
      await exited(p);
    }
    await cleanupTestEnv(testEnv);
  });

  const call = (url: string, key: string) =>
    fetch(`${url}/his/v1/events/00000000-0000-4000-8000-000000000000`, { headers: { authorization: `Bearer ${key}` } });

  it('lets one caller make BURST requests in all across two processes, then answers 429 on both', async () => {
    const answers: Response[] = [];
    // Alternating between the processes: with a limit per process, each would allow BURST on its own (2 × BURST).
    for (let i = 0; i < 2 * BURST; i++) {
      answers.push(await call(urls[i % 2]!, testEnv.keys.practice));
    }
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 404)).toHaveLength(BURST);
    expect(statuses.slice(0, BURST)).toEqual(Array(BURST).fill(404));
    expect(statuses.slice(BURST)).toEqual(Array(BURST).fill(429));

    // IETF draft RateLimit-* headers on every answer, counting down across both processes.
    expect(answers.map((r) => r.headers.get('ratelimit-remaining'))).toEqual([
      ...Array.from({ length: BURST }, (_, i) => String(BURST - 1 - i)),
      ...Array(BURST).fill('0'),
    ]);
    for (const r of answers) {
      expect(r.headers.get('ratelimit-limit')).toBe(String(BURST));
      expect(r.headers.get('ratelimit-policy')).toBe(`1;w=100, ${BURST};w=600`);
      expect(Number(r.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
      expect(Number(r.headers.get('ratelimit-reset'))).toBeLessThanOrEqual(600);
    }
    const refused = answers[BURST]!;
    expect(refused.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
    expect(((await refused.json()) as OperationOutcome).id).toBe('too-many-requests');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(100);
  });

  it('counts each principal on its own', async () => {
    const other = await call(urls[1]!, testEnv.keys.operator);
    expect(other.status).toBe(404);
    expect(other.headers.get('ratelimit-remaining')).toBe(String(BURST - 1));
  });
});
