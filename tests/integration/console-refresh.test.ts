import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { postSignIn } from '../helpers/console-client';
import { TEST_REDIS_URL, useTestApp } from '../helpers/test-runtime';

/**
 * A page that refreshes itself (queue counts every 5 s, replay progress every 2 s) asks with `X-Console-Refresh: 1`:
 * such a request is answered as any other but is not the user's activity, so it does not move the session's idle
 * expiry on. Otherwise an open queues page would keep an unattended session alive until CONSOLE_SESSION_MAX_HOURS.
 */
describe('background refreshes of console pages do not keep a session alive', () => {
  const app = useTestApp({ env: { ROLE: 'api', CONSOLE_IDLE_TIMEOUT_MIN: '30' } });
  const redis = new Redis(TEST_REDIS_URL);

  afterAll(() => {
    redis.disconnect();
  });

  const signedIn = async () => {
    const res = await postSignIn(app, app.testEnv.keys.operator);
    expect(res.status).toBe(303);
    const cookie = res.headers
      .getSetCookie()
      .find((c) => c.startsWith('jb_session='))!
      .split(';')[0]!;
    const token = cookie.slice('jb_session='.length);
    const key = `${app.testEnv.prefix}:console-session:${createHash('sha256').update(token).digest('hex')}`;
    return { cookie, key };
  };
  const get = (cookie: string, headers: Record<string, string> = {}) =>
    fetch(`${app.url}/console/operator`, { headers: { cookie, ...headers }, redirect: 'manual' });

  it('answers a refresh but leaves the idle expiry where it was; a request of the user moves it on', async () => {
    const { cookie, key } = await signedIn();
    expect(await redis.ttl(key)).toBeGreaterThan(1790);
    await redis.expire(key, 100);
    const refresh = await get(cookie, { 'x-console-refresh': '1' });
    expect(refresh.status).toBe(200);
    expect(await refresh.text()).toContain('id="queues"');
    expect(await redis.ttl(key)).toBeLessThanOrEqual(100);
    expect((await get(cookie)).status).toBe(200);
    expect(await redis.ttl(key)).toBeGreaterThan(1790);
  });

  it('sends a refresh of an ended session to the sign-in page, as any request', async () => {
    const { cookie, key } = await signedIn();
    await redis.del(key);
    const refresh = await get(cookie, { 'x-console-refresh': '1' });
    expect(refresh.status).toBe(303);
    expect(refresh.headers.get('location')).toBe('/console/sign-in?why=ended&back=%2Fconsole%2Foperator');
  });
});
