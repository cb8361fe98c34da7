import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** The Redis settings of the configuration (a subset of `Config`, named as in the environment). */
export interface RedisSettings {
  readonly REDIS_CLUSTER_NODES?: string | undefined;
  readonly REDIS_SENTINELS?: string | undefined;
  readonly REDIS_SENTINEL_NAME?: string | undefined;
  readonly REDIS_USERNAME?: string | undefined;
  readonly REDIS_PASSWORD?: string | undefined;
  readonly REDIS_SENTINEL_PASSWORD?: string | undefined;
  readonly REDIS_TLS: boolean;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Where the queues live: one server (a URL), a Redis Cluster (seed nodes), or a primary found through Sentinels. */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | { readonly kind: 'cluster'; readonly nodes: readonly HostPort[] }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly name: string };

/** Any client BullMQ accepts as a connection: `Redis` (standalone or Sentinel) or `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Answers whether the configuration names a cluster or sentinels (then no local Redis is looked for or started). */
export function usesRedisTopology(settings: RedisSettings): boolean {
  return settings.REDIS_CLUSTER_NODES !== undefined || settings.REDIS_SENTINELS !== undefined;
}

/** The target the settings describe; `standaloneUrl` is the URL of the single server when neither topology is set. */
export function redisTargetOf(settings: RedisSettings, standaloneUrl: string): RedisTarget {
  if (settings.REDIS_CLUSTER_NODES !== undefined) {
    return { kind: 'cluster', nodes: parseHostPorts(settings.REDIS_CLUSTER_NODES) };
  }
  if (settings.REDIS_SENTINELS !== undefined) {
    return {
      kind: 'sentinel',
      sentinels: parseHostPorts(settings.REDIS_SENTINELS),
      name: settings.REDIS_SENTINEL_NAME ?? 'mymaster',
    };
  }
  return { kind: 'standalone', url: standaloneUrl };
}

/** `a:1,b:2` → hosts and ports (the config schema has checked the shape). */
function parseHostPorts(list: string): HostPort[] {
  return list.split(',').map((pair) => {
    const i = pair.lastIndexOf(':');
    return { host: pair.slice(0, i), port: Number(pair.slice(i + 1)) };
  });
}

/** The target without credentials, for logs and the runtime's description of itself. */
export function describeRedisTarget(target: RedisTarget): string {
  switch (target.kind) {
    case 'standalone': {
      const u = new URL(target.url);
      return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
    }
    case 'cluster':
      return `redis-cluster://${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
    case 'sentinel':
      return `redis-sentinel://${target.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}/${target.name}`;
  }
}

/**
 * The one place a Redis client is made: for the queues, workers and destination rate limiters, and (fail-fast) for
 * the API's per-principal rate limiter. BullMQ needs
 * `maxRetriesPerRequest: null` on connections that block (workers), and all of them share one client per process,
 * so it is set for all: a command waits for Redis to come back rather than failing after a few tries.
 */
export function createRedisClient(
  settings: RedisSettings,
  target: RedisTarget,
  /**
   * `lazyConnect`: connect on the first command rather than now (tests of the configuration). `failFast`: a command
   * fails at once while Redis is away instead of waiting (the API's rate limiter, which then counts in memory).
   * `autoPipelining`: the commands made within one turn of the event loop go out in one write (ioredis
   * `enableAutoPipelining`), for a client that many concurrent requests each send a command or two on.
   */
  opts: { lazyConnect?: boolean; failFast?: boolean; autoPipelining?: boolean } = {},
): RedisClient {
  const lazyConnect = opts.lazyConnect ?? false;
  const enableOfflineQueue = !opts.failFast;
  const enableAutoPipelining = opts.autoPipelining ?? false;
  const auth: RedisOptions = {
    ...(settings.REDIS_USERNAME ? { username: settings.REDIS_USERNAME } : {}),
    ...(settings.REDIS_PASSWORD ? { password: settings.REDIS_PASSWORD } : {}),
    // An empty object: Node's default CAs and server-name check (NODE_EXTRA_CA_CERTS adds a private CA).
    ...(settings.REDIS_TLS ? { tls: {} } : {}),
    maxRetriesPerRequest: opts.failFast ? 1 : null,
  };
  switch (target.kind) {
    case 'standalone':
      return new Redis(target.url, { ...auth, lazyConnect, enableOfflineQueue, enableAutoPipelining });
    case 'cluster': {
      const options: ClusterOptions = {
        redisOptions: auth,
        lazyConnect,
        enableOfflineQueue,
        enableAutoPipelining,
        // Managed clusters behind TLS announce hostnames their certificates name; resolving them to addresses
        // first would fail the certificate check, so ioredis is told to use them as given.
        ...(settings.REDIS_TLS ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
        // During a failover the cluster answers CLUSTERDOWN or refuses connections for a few seconds; retrying for
        // longer than ioredis' default (16 × 100 ms) lets a queue add ride out an ordinary failover.
        retryDelayOnClusterDown: 300,
        retryDelayOnFailover: 300,
        maxRedirections: 50,
      };
      return new Cluster(
        target.nodes.map((n) => ({ host: n.host, port: n.port })),
        options,
      );
    }
    case 'sentinel':
      return new Redis({
        ...auth,
        lazyConnect,
        enableOfflineQueue,
        enableAutoPipelining,
        sentinels: target.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: target.name,
        ...(settings.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: settings.REDIS_SENTINEL_PASSWORD } : {}),
        ...(settings.REDIS_TLS ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      });
  }
}

/**
 * The BullMQ key prefix of one queue. With one tag (the default) every queue sits in one hash slot, so on a
 * cluster one primary carries all queue traffic; with a tag per queue (`{jeugdbrug.map}`, `{jeugdbrug.deliver.x}`)
 * the queues spread over the primaries. Each queue's own keys always share one slot, which is all BullMQ's
 * scripts need; nothing here runs a script across two queues.
 */
export function queuePrefix(prefix: string, queueName: string, tagPerQueue: boolean): string {
  return tagPerQueue ? `{${prefix.slice(1, -1)}.${queueName}}` : prefix;
}
