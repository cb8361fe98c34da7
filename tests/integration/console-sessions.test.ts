import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { ConsoleSessionStore } from '../../src/access/console-sessions';
import { createPrincipal } from '../../src/access/principal';
import { deleteQueueKeys, newQueuePrefix, TEST_REDIS_URL } from '../helpers/test-runtime';

describe('console sessions in Redis', () => {
  const prefix = newQueuePrefix();
  const redis = new Redis(TEST_REDIS_URL);
  const principal = createPrincipal({
    id: 'api-key:auditor',
    role: 'auditor',
    practices: ['*'],
    municipalities: ['*'],
    via: 'api-key',
  });
  const store = new ConsoleSessionStore(redis, prefix, 600, 3600);

  afterAll(async () => {
    await deleteQueueKeys(prefix);
    redis.disconnect();
  });

  it('stores ids only, under a hash of the token, with the idle timeout as its expiry', async () => {
    const { token, session } = await store.create(principal);
    const keys = await redis.keys(`${prefix}:console-session:*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain(token);
    expect(await redis.ttl(keys[0]!)).toBeGreaterThan(590);
    expect(JSON.parse((await redis.get(keys[0]!))!)).toEqual({
      principal: { ...principal },
      csrf: session.csrf,
      createdAt: session.createdAt,
    });
    expect((await store.tryGet(token))?.principal).toEqual(principal);
  });

  it('knows no session for an unknown, malformed or ended token', async () => {
    const { token } = await store.create(principal);
    expect(await store.tryGet(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(await store.tryGet('not a token')).toBeUndefined();
    await store.destroy(token);
    expect(await store.tryGet(token)).toBeUndefined();
  });

  it('ends a session at its maximum age, however active, and removes it', async () => {
    const old = new ConsoleSessionStore(redis, prefix, 600, 0);
    const { token } = await old.create(principal);
    await new Promise((r) => setTimeout(r, 5));
    expect(await old.tryGet(token)).toBeUndefined();
    // Removed, not only hidden: a store with a longer maximum does not find it either.
    expect(await store.tryGet(token)).toBeUndefined();
  });

  it("ends a session at its credential's expiry (a JWT's exp), Redis' expiry included", async () => {
    const { token, session } = await store.create(principal, { expiresAt: Date.now() + 2_000 });
    const key = `${prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`;
    expect(await redis.ttl(key)).toBeLessThanOrEqual(2);
    expect(store.lifetimeSeconds(session)).toBeLessThanOrEqual(2);
    expect((await store.tryGet(token))?.expiresAt).toBe(session.expiresAt);
    expect(await redis.ttl(key)).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 2_100));
    expect(await store.tryGet(token)).toBeUndefined();
  });

  it('leaves the idle expiry alone when asked not to extend (a background refresh)', async () => {
    const { token } = await store.create(principal);
    const key = `${prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`;
    await redis.expire(key, 50);
    expect(await store.tryGet(token, { extend: false })).toBeDefined();
    expect(await redis.ttl(key)).toBeLessThanOrEqual(50);
    expect(await store.tryGet(token)).toBeDefined();
    expect(await redis.ttl(key)).toBeGreaterThan(590);
  });

  it('refuses a session whose stored principal was tampered with: a malformed scope, or a wildcard for a practice', async () => {
    const { token } = await store.create(principal);
    const key = `${prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`;
    const raw = JSON.parse((await redis.get(key))!) as { principal: { practices: string[] } };
    raw.principal.practices = ['not-an-agb'];
    await redis.set(key, JSON.stringify(raw));
    expect(await store.tryGet(token)).toBeUndefined();

    const practice = await store.create(createPrincipal({ ...principal, role: 'practice', practices: ['01234567'] }));
    const practiceKey = `${prefix}:console-session:${createHash('sha256').update(practice.token).digest('hex')}`;
    const widened = JSON.parse((await redis.get(practiceKey))!) as { principal: { practices: string[] } };
    widened.principal.practices = ['*'];
    await redis.set(practiceKey, JSON.stringify(widened));
    expect(await store.tryGet(practice.token)).toBeUndefined();
  });
});
