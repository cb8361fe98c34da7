import { Redis } from 'ioredis';
import { assertNoKeysLeft } from '../../helpers/queue-prefixes';
import { newQueuePrefix, TEST_REDIS_URL } from '../../helpers/test-runtime';

// The check queue-keys-environment.ts runs at the end of every test file, against the shared Redis.
describe('the check that a test file left no key under its queue prefixes', () => {
  const redis = new Redis(TEST_REDIS_URL);

  afterAll(() => {
    redis.disconnect();
  });

  it('fails naming the file and each key left, its queues’ own hash tags included, and deletes them', async () => {
    const prefix = newQueuePrefix();
    const tagged = `{${prefix.slice(1, -1)}.feedback}:feedback:id`;
    await redis.set(`${prefix}:map:meta`, '1');
    await redis.set(tagged, '1');
    await expect(assertNoKeysLeft('tests/e2e/leaky.test.ts', [prefix])).rejects.toThrow(
      `tests/e2e/leaky.test.ts left 2 key(s) in the shared Redis (${TEST_REDIS_URL}) under queue prefixes it made, ` +
        `after its last afterAll: ${tagged}, ${prefix}:map:meta.`,
    );
    expect(await redis.exists(`${prefix}:map:meta`, tagged)).toBe(0);
  });

  it('passes when its prefixes hold nothing, and leaves the keys of any other prefix alone', async () => {
    const prefix = newQueuePrefix();
    // Another file's prefix that merely starts with the same letters.
    const other = `${prefix.slice(0, -1)}x}:map:meta`;
    await redis.set(other, '1');
    try {
      await expect(assertNoKeysLeft('tests/e2e/clean.test.ts', [prefix])).resolves.toBeUndefined();
      expect(await redis.exists(other)).toBe(1);
    } finally {
      await redis.del(other);
    }
  });

  it('is given every queue prefix this file makes by the test environment', () => {
    const prefix = newQueuePrefix();
    // A Set of the environment's realm (so not `instanceof` this context's Set).
    const tracked = (globalThis as { [k: symbol]: Set<string> | undefined })[
      Symbol.for('jeugdbrug.test.queuePrefixes')
    ];
    expect(tracked?.has(prefix)).toBe(true);
  });
});
