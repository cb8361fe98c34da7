import { Redis } from 'ioredis';

/**
 * The Redis that test files share (one per machine, or per CI run): each test file keeps its keys under queue
 * prefixes of its own, and leaves none behind (queue-keys-environment.ts checks that at the file's end).
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Where a test file's context holds the prefixes it made; set by queue-keys-environment.ts. */
const TRACKED = Symbol.for('jeugdbrug.test.queuePrefixes');

type TrackingGlobal = typeof globalThis & { [TRACKED]?: Set<string> };

/** Gives the test file's global (its Jest context) the set its queue prefixes are noted in; returns that set. */
export function startTrackingQueuePrefixes(global: object): Set<string> {
  const prefixes = new Set<string>();
  (global as TrackingGlobal)[TRACKED] = prefixes;
  return prefixes;
}

/**
 * Notes a queue prefix this test file (or a product process it starts) writes under in the shared Redis, so the file
 * fails when it leaves a key there. A no-op outside Jest (the demo, the bench).
 */
export function trackQueuePrefix(prefix: string): void {
  (globalThis as TrackingGlobal)[TRACKED]?.add(prefix);
}

/** How many of a file's leftover keys its failure names. */
const KEYS_NAMED = 20;

/**
 * Fails, naming `testFile` and the keys, when any of `prefixes` holds a key in the shared Redis; those keys (the
 * file's own) are deleted first, so that they neither stay nor fail a later run. A Redis that does not answer fails
 * the check rather than holding the Jest worker.
 */
export async function assertNoKeysLeft(testFile: string, prefixes: Iterable<string>): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 10_000, lazyConnect: true });
  try {
    const left: string[] = [];
    for (const prefix of prefixes) {
      left.push(...(await keysUnderPrefix(redis, prefix)));
    }
    if (left.length > 0) {
      await redis.del(...left);
      const named = left.slice(0, KEYS_NAMED).join(', ') + (left.length > KEYS_NAMED ? ', …' : '');
      throw new Error(
        `${testFile} left ${left.length} key(s) in the shared Redis (${TEST_REDIS_URL}) under queue prefixes it ` +
          `made, after its last afterAll: ${named}. A test deletes its keys in its cleanup (cleanupTestEnv, ` +
          'deleteQueueKeys), after every process writing under them has stopped.',
      );
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * Every key under `prefix` in `redis`: `prefix:…`, and for a `{tag}` prefix also the queues' own hash tags that
 * QUEUE_TAG_PER_QUEUE gives them (`{tag.map}:…`).
 */
export async function keysUnderPrefix(redis: Redis, prefix: string): Promise<string[]> {
  const patterns = [`${escapeGlob(prefix)}:*`];
  if (prefix.startsWith('{') && prefix.endsWith('}')) {
    patterns.push(`${escapeGlob(prefix.slice(0, -1))}.*}:*`);
  }
  const keys: string[] = [];
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return [...new Set(keys)].sort();
}

/** `text` as a Redis glob pattern that matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
