import { Cluster, Redis } from 'ioredis';
import { ConfigError, loadConfig } from '../../src/kernel/config';
import {
  createRedisClient,
  describeRedisTarget,
  queuePrefix,
  redisTargetOf,
  usesRedisTopology,
} from '../../src/kernel/redis-client';

/** The client the product would use for this environment, made without connecting. */
function clientFor(env: Record<string, string>) {
  const config = loadConfig(env);
  const target = redisTargetOf(config, config.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const client = createRedisClient(config, target, { lazyConnect: true });
  return { config, target, client };
}

describe('Redis topology from configuration', () => {
  it('makes a Cluster client from REDIS_CLUSTER_NODES, with the password and TLS on every node', () => {
    const { config, target, client } = clientFor({
      REDIS_CLUSTER_NODES: 'redis-1:7000,redis-2:7001,10.0.0.3:7002',
      REDIS_PASSWORD: 's3cret',
      REDIS_USERNAME: 'jeugdbrug',
      REDIS_TLS: 'true',
    });
    expect(usesRedisTopology(config)).toBe(true);
    expect(target).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'redis-1', port: 7000 },
        { host: 'redis-2', port: 7001 },
        { host: '10.0.0.3', port: 7002 },
      ],
    });
    expect(client).toBeInstanceOf(Cluster);
    const cluster = client as Cluster;
    expect(cluster.options.redisOptions).toEqual(
      expect.objectContaining({ username: 'jeugdbrug', password: 's3cret', tls: {}, maxRetriesPerRequest: null }),
    );
    expect(describeRedisTarget(target)).toBe('redis-cluster://redis-1:7000,redis-2:7001,10.0.0.3:7002');
  });

  it('makes a Sentinel client from REDIS_SENTINELS and REDIS_SENTINEL_NAME', () => {
    const { target, client } = clientFor({
      REDIS_SENTINELS: 'sentinel-a:26379,sentinel-b:26379',
      REDIS_SENTINEL_NAME: 'queues',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
    });
    expect(client).toBeInstanceOf(Redis);
    expect((client as Redis).options).toEqual(
      expect.objectContaining({
        name: 'queues',
        sentinels: [
          { host: 'sentinel-a', port: 26379 },
          { host: 'sentinel-b', port: 26379 },
        ],
        sentinelPassword: 'sentinel-pw',
        maxRetriesPerRequest: null,
      }),
    );
    expect(describeRedisTarget(target)).toBe('redis-sentinel://sentinel-a:26379,sentinel-b:26379/queues');
  });

  it('keeps a single server for REDIS_URL and leaves its password out of the description', () => {
    const { config, target, client } = clientFor({ REDIS_URL: 'redis://:pw@cache.internal:6380/2' });
    expect(usesRedisTopology(config)).toBe(false);
    expect(client).toBeInstanceOf(Redis);
    expect((client as Redis).options).toEqual(expect.objectContaining({ host: 'cache.internal', port: 6380, db: 2 }));
    expect(describeRedisTarget(target)).toBe('redis://cache.internal:6380/2');
  });

  it.each([
    [{ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' }, 'REDIS_CLUSTER_NODES', /set only one of/],
    [
      { REDIS_CLUSTER_NODES: 'b:7000', REDIS_SENTINELS: 'c:26379', REDIS_SENTINEL_NAME: 'm' },
      'REDIS_SENTINELS',
      /only one/,
    ],
    [{ REDIS_SENTINELS: 'c:26379' }, 'REDIS_SENTINEL_NAME', /go together/],
    [{ REDIS_SENTINEL_NAME: 'm' }, 'REDIS_SENTINELS', /go together/],
    [{ REDIS_CLUSTER_NODES: 'redis-1' }, 'REDIS_CLUSTER_NODES', /host:port/],
    [{ REDIS_CLUSTER_NODES: 'redis-1:7000;redis-2:7000' }, 'REDIS_CLUSTER_NODES', /host:port/],
    [{ MAX_QUEUE_DEPTH: '0' }, 'MAX_QUEUE_DEPTH', /./],
    [{ REDIS_TLS: 'sometimes' }, 'REDIS_TLS', /./],
  ])('refuses %j naming %s', (env, key, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${key}: `));
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('puts all queues in one slot by default, or each queue under its own hash tag', () => {
    expect(queuePrefix('{jeugdbrug}', 'deliver.gm0226', false)).toBe('{jeugdbrug}');
    expect(queuePrefix('{jeugdbrug}', 'deliver.gm0226', true)).toBe('{jeugdbrug.deliver.gm0226}');
    expect(queuePrefix('{jeugdbrug}', 'map', true)).toBe('{jeugdbrug.map}');
  });
});
