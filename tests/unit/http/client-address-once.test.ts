import express, { type Request } from 'express';
import { expressTrustProxy, validClientAddress } from '../../../src/http/client-address';
import { loadConfig } from '../../../src/kernel/config';

/**
 * validClientAddress keeps the address it found on the request: later reads (the audit actor, the auth-failure
 * throttle) get exactly what Express's `req.ip` getter gave, without running it again.
 */
describe('validClientAddress finds the client address once per request', () => {
  function requestThrough(
    forwardedFor: string | undefined,
    trustProxy: string,
  ): { req: Request; getterRuns: () => number } {
    const app = express();
    app.set('trust proxy', expressTrustProxy(loadConfig({ TRUST_PROXY: trustProxy }).TRUST_PROXY));
    let runs = 0;
    // Express's own getter (on the app's request prototype or the one it inherits from), run for `r`.
    const read = (r: Request): string | undefined =>
      Reflect.get<object, 'ip'>(app.request, 'ip', r) as string | undefined;
    const req = Object.create(app.request, {
      ip: {
        configurable: true,
        get(this: Request) {
          runs++;
          return read(this);
        },
      },
    }) as Request;
    Object.assign(req, {
      app,
      headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
      socket: { remoteAddress: '127.0.0.1' },
      connection: { remoteAddress: '127.0.0.1' },
    });
    return { req, getterRuns: () => runs };
  }

  it.each([
    ['a forwarded address from a trusted proxy', '198.51.100.7', '1', '198.51.100.7'],
    ['no X-Forwarded-For', undefined, '1', '127.0.0.1'],
    ['an untrusted proxy', '198.51.100.7', 'none', '127.0.0.1'],
    ['a forwarded value that is no address: the socket address', 'not-an-ip', '1', '127.0.0.1'],
  ])('%s: %s', (_case, forwardedFor, trustProxy, expected) => {
    const { req, getterRuns } = requestThrough(forwardedFor, trustProxy);
    let passed = false;
    validClientAddress({ warn: () => undefined })(req, {} as never, () => (passed = true));
    expect(passed).toBe(true);
    expect([req.ip, req.ip, req.ip]).toEqual([expected, expected, expected]);
    expect(getterRuns()).toBe(1);
  });
});
