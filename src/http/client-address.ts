import { isIP } from 'node:net';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { TrustProxy } from '../kernel/config';

/** How long the log stays quiet after warning about a forwarded address that is not one. */
const WARN_EVERY_MS = 60_000;

/**
 * The client address (`req.ip`, which the audit records as the access point and the auth-failure throttle counts by)
 * is always an IP address. Express takes it from X-Forwarded-For as sent when the proxy is trusted (`trust proxy`),
 * unchecked: a proxy that passes on garbage would make that garbage the audited address and a throttle key of the
 * client's choosing. Such a value is replaced by the socket's address (the proxy's), with a warning at most once a
 * minute, naming neither value (what was sent is the client's, not ours to log) but how many were replaced.
 *
 * The address found is kept on the request: Express's `req.ip` is a getter that parses X-Forwarded-For and walks the
 * trusted proxies on every read, and a request reads it again for its audit actor (request-context.ts) and for
 * the auth-failure throttle. Its inputs (the headers, the socket's address, which Node keeps once read, the app's
 * `trust proxy`) do not change during a request, so every later read gives what the getter would.
 */
export function validClientAddress(log: Pick<Logger, 'warn'>): RequestHandler {
  let replaced = 0;
  let warnedAt = -Infinity;
  return (req, _res, next) => {
    const ip = req.ip;
    if (ip === undefined || isIP(ip) !== 0) {
      Object.defineProperty(req, 'ip', { value: ip, configurable: true, enumerable: true });
    } else {
      Object.defineProperty(req, 'ip', { value: req.socket.remoteAddress, configurable: true, enumerable: true });
      replaced++;
      const now = performance.now();
      if (now - warnedAt >= WARN_EVERY_MS) {
        warnedAt = now;
        log.warn(
          { replaced },
          'X-Forwarded-For from a trusted proxy is not an IP address: the proxy address is used as the client address',
        );
        replaced = 0;
      }
    }
    next();
  };
}

/** TRUST_PROXY as Express's `trust proxy` takes it: `false`, a hop count, or the addresses for proxy-addr. */
export function expressTrustProxy(trust: TrustProxy): boolean | number | string[] {
  return trust === false ? false : 'hops' in trust ? trust.hops : [...trust.addresses];
}
