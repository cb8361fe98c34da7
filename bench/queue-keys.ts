import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../tests/helpers/test-runtime';

/** A queue prefix no other run uses, in the hash-tag form `QUEUE_PREFIX` requires. */
export function uniqueQueuePrefix(label: string): string {
  return `{${label}${randomBytes(5).toString('hex')}}`;
}

/** Deletes every Redis key under the prefix, as cleanupTestEnv does for a test's queues. */
export async function deleteQueueKeys(prefix: string, redisUrl = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) {
        await redis.del(...keys);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
