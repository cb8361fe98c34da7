import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CHECKPOINT_FILE, type SignedHead } from '../../src/audit/signed-heads';
import { listChainTenants, tryGetChainHead } from '../../src/audit/verify';
import { buildReferralEvent } from '../helpers/builders';
import { exited, freePort } from '../helpers/product-process';
import { TestReceiver } from '../helpers/receiver';
import { spawnRedisServer, waitForRedis } from '../helpers/redis-server';
import { cleanupTestEnv, startTestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/** A plain TCP connection to the app, and everything it receives until it is closed. */
async function rawConnection(url: string): Promise<{ hostname: string; socket: net.Socket; answer: Promise<string> }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await new Promise((resolve) => socket.once('connect', resolve));
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.once('close', () => resolve(text));
  });
  return { hostname, socket, answer };
}

/**
 * Shutting down lets the requests in flight be answered, then ends. The HTTP server keeps idle keep-alive
 * connections for 65 s (behind a load balancer); one whose request was still being answered when the shutdown began
 * must not hold the shutdown for that long after its answer.
 */
describe('shutting down with a keep-alive request in flight', () => {
  it('answers the request, closes its connection and stops, not a keep-alive timeout later', async () => {
    const app = await startTestApp({});
    try {
      const { hostname, socket, answer } = await rawConnection(app.url);
      // The request is in flight while its body is still arriving: the server cannot answer it yet.
      const body = '{"not":"a his record"}';
      socket.write(
        `POST /his/v1/events HTTP/1.1\r\nHost: ${hostname}\r\nConnection: keep-alive\r\n` +
          `Authorization: Bearer ${app.testEnv.keys.practice}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      const stopped = app.close();
      socket.write(body.slice(5));
      // Answered (a refusal of the body, with its OperationOutcome), then the connection is closed by the server.
      expect(await answer).toMatch(/^HTTP\/1\.1 4\d\d /);
      // Within the test's timeout (60 s, jest.config), which the 65 s the connection would otherwise be kept overruns.
      await stopped;
    } finally {
      await app.close();
      await cleanupTestEnv(app.testEnv);
    }
  });
});

/**
 * A connection whose request headers are still arriving holds no request the server accepted: a shutdown ends it
 * rather than waiting until headersTimeout (66 s here) for a client that may never send the rest.
 */
describe('shutting down with a request whose headers are still arriving', () => {
  it('ends that connection unanswered and stops', async () => {
    const app = await startTestApp({ env: { REQUEST_TIMEOUT_MS: '300000' } });
    try {
      const { hostname, socket, answer } = await rawConnection(app.url);
      socket.write(`GET /fhir/metadata HTTP/1.1\r\nHost: ${hostname}\r\n`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Within the test's timeout (60 s, jest.config), which waiting for the headers' timeout would overrun.
      await app.close();
      expect(await answer).toBe('');
      await waitFor('the cut connection in the log', () =>
        /"cut":1\b/.test(fs.readFileSync(app.testEnv.logFile, 'utf8')),
      );
    } finally {
      await app.close();
      await cleanupTestEnv(app.testEnv);
    }
  });
});

/**
 * A worker's close waits for its blocking Redis connection to end, which a Redis that stopped answering never lets
 * happen (nor, now and then, a healthy one: taskforcesh/bullmq#4065). The shutdown must still get to what matters
 * after it, the last audit rows and the signature of the last heads, and end; main.ts would otherwise kill the
 * process at SHUTDOWN_TIMEOUT_MS with the last heads unsigned.
 */
describe('shutting down when Redis stopped answering', () => {
  it('signs the last audit heads and stops, without waiting on the workers for ever', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-shutdown-hung-redis-'));
    const port = await freePort();
    const server = spawnRedisServer(port, dir);
    const receiver = await new TestReceiver().start();
    await waitForRedis(port);
    const app = await startTestApp({ receiverUrl: receiver.url, env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
    try {
      const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
      const eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
      await waitFor('the referral delivered', async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [eventId]);
        return row?.state === 'delivered' ? true : undefined;
      });
      const heads = new Map<string, number>();
      for (const tenant of await listChainTenants(app.rt.ctx.db)) {
        heads.set(tenant, (await tryGetChainHead(app.rt.ctx.db, tenant))!.seq);
      }
      expect(heads.size).toBeGreaterThan(0);
      server.kill('SIGSTOP');
      // Within the test's timeout (60 s, jest.config): without a bound on the workers' close it never resolves.
      await app.close();
      const signed = fs
        .readFileSync(path.join(app.testEnv.dataDir, CHECKPOINT_FILE), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as SignedHead);
      for (const [tenant, seq] of heads) {
        expect(signed.filter((h) => h.tenant === tenant).map((h) => h.seq)).toContain(seq);
      }
    } finally {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
      await exited(server);
      await app.close();
      await receiver.stop();
      await cleanupTestEnv(app.testEnv);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
