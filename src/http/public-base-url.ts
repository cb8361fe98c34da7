import type { Config } from '../kernel/config';

/**
 * The base URL clients reach the API at: `PUBLIC_BASE_URL` when set, else the address this process listens on
 * (`listening`, known once the port is bound; a wildcard host becomes `localhost`). Never derived from a request:
 * `Host` and `X-Forwarded-*` are the client's to choose, and links built on them could point anywhere.
 */
export function publicBaseUrl(config: Pick<Config, 'PUBLIC_BASE_URL' | 'HOST' | 'PORT'>, listening?: string): string {
  if (config.PUBLIC_BASE_URL) {
    return config.PUBLIC_BASE_URL.replace(/\/+$/, '');
  }
  if (listening) {
    return listening.replace(/\/\/(0\.0\.0\.0|\[::\])(?=:)/, '//localhost');
  }
  const host = ['0.0.0.0', '::'].includes(config.HOST) ? 'localhost' : config.HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`;
}
