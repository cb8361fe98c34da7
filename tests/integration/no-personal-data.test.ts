import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { isValidBsn } from '../../src/kernel/fhir/identifiers';
import { buildConsentEvent, buildReferralEvent, randomBsn } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, TEST_REDIS_URL, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * Random hex ids (UUIDs, W3C trace ids, and `traceparent` values, which BullMQ keeps in a traced job's options) hold
 * nine digits in a row that pass the 11-proef about once in 200 trace ids, so whole ids of exactly those shapes are
 * set aside first; a BSN cannot hide inside one.
 */
const HEX_IDS =
  /\b00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}\b|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{32}\b/g;

/** Every 9-digit token that passes the 11-proef: what a BSN looks like to anyone reading a log. */
function bsnLike(text: string): string[] {
  return [...text.replace(HEX_IDS, '<id>').matchAll(/(?<![\d.])\d{9}(?![\d.])/g)].map((m) => m[0]).filter(isValidBsn);
}

async function allRedisText(redis: Redis): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'string') {
        parts.push((await redis.get(key)) ?? '');
      } else if (type === 'hash') {
        parts.push(JSON.stringify(await redis.hgetall(key)));
      } else if (type === 'list') {
        parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      } else if (type === 'set') {
        parts.push(JSON.stringify(await redis.smembers(key)));
      } else if (type === 'zset') {
        parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
      } else if (type === 'stream') {
        parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

describe('personal data stays in PostgreSQL', () => {
  let receiver: TestReceiver;
  let app: TestApp;
  const childBsn = randomBsn();
  const guardianBsn = randomBsn();
  const names = ['Zwanetta', 'Oudewater-Kleinsma', 'Hieronymus'];

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url, env: { LOG_LEVEL: 'debug' } });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  it('keeps BSNs and names out of the application logs and out of every Redis key and value', async () => {
    const base = buildReferralEvent();
    const referral = {
      ...base,
      child: { ...(base.child as object), bsn: childBsn, name: { given: [names[0]], family: names[1] } },
      guardians: [
        { id: 'g1', bsn: guardianBsn, relationship: 'father', hasAuthority: true, name: { given: [names[2]] } },
      ],
    };
    const invalid = { ...referral, eventId: 'evt-invalid', child: { ...referral.child, birthDate: '2999-01-01' } };
    // A referral delivered, one that dies on a 4xx and is replayed, a consent, and an invalid event.
    receiver.mode = { kind: 'status', status: 400 };
    const res = await app.request('/his/v1/events', {
      json: [referral, buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }), invalid],
    });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    const letter = await waitFor('a dead letter', async () => {
      const list = (await (await app.request('/admin/v1/dead-letters', { key: 'operator' })).json()) as {
        deadLetters: { id: string; inboxId: string }[];
      };
      return list.deadLetters.find((d) => d.inboxId === id);
    });
    receiver.mode = { kind: 'ok' };
    await app.request(`/admin/v1/dead-letters/${letter.id}/replay`, { key: 'operator', method: 'POST' });
    await waitFor('delivery after replay', async () => {
      const v = (await (await app.request(`/his/v1/events/${id}`)).json()) as { state: string };
      return v.state === 'delivered';
    });
    // The data did reach PostgreSQL and the receiver: the scan below is not vacuous.
    expect(JSON.stringify([...receiver.stored.values()].map((h) => h.body))).toContain(childBsn);

    const redis = new Redis(TEST_REDIS_URL);
    const redisText = await allRedisText(redis);
    redis.disconnect();
    expect(redisText.length).toBeGreaterThan(0);
    const logs = [
      fs.readFileSync(app.testEnv.logFile, 'utf8'),
      // The logs of every other test app on this machine's temp directory, too.
      ...fs
        .readdirSync(os.tmpdir())
        .filter((d) => d.startsWith('jeugdbrug-test-'))
        .flatMap((d) => {
          // Other test files clean up their directories while this one reads: a vanished file is no finding.
          try {
            const dir = path.join(os.tmpdir(), d);
            return fs
              .readdirSync(dir)
              .filter((f) => f.endsWith('.log'))
              .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
          } catch {
            return [];
          }
        }),
    ].join('\n');
    expect(logs).toContain('"msg"');

    for (const [where, text] of [
      ['Redis', redisText],
      ['logs', logs],
    ] as const) {
      // Each finding with the text around it, so that a failure says where it is (a key, a job, a session).
      const found = bsnLike(text).map((b) => {
        const at = text.indexOf(b);
        return `${b} in …${text.slice(Math.max(0, at - 120), at + 40)}…`;
      });
      expect({ where, bsns: found }).toEqual({ where, bsns: [] });
      for (const name of names) {
        expect({ where, name, found: text.includes(name) }).toEqual({ where, name, found: false });
      }
    }
  });
});
