import { Cluster, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import { errorFields } from './logger';
import { isOutageError, withTimeout } from './outage';
import type { RedisClient } from './redis-client';

/** The only `maxmemory-policy` BullMQ can live with: Redis refuses writes when full instead of dropping keys. */
export const NO_EVICTION = 'noeviction';

/** How long the start-up check waits for Redis's answer: it informs, it does not hold start-up up. */
const CHECK_ANSWER_MS = 2000;

/** Redis's memory as `INFO memory` says it: of the fullest primary, on a cluster. */
export interface RedisMemory {
  readonly usedBytes: number;
  /** `maxmemory`; 0 when none is set (then Redis grows until the host runs out). */
  readonly maxBytes: number;
  /** `maxmemory-policy`; on a cluster an evicting one of any primary, else `noeviction`. */
  readonly policy: string;
}

/** The servers that hold queue keys: every primary of a cluster, or the one server. */
function serversOf(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** `field:value` lines of an INFO answer. */
function infoFields(info: string): Map<string, string> {
  return new Map(
    info
      .split(/\r?\n/)
      .map((line) => line.split(':'))
      .filter((parts): parts is [string, string] => parts.length === 2)
      .map(([k, v]) => [k, v.trim()]),
  );
}

/** One server's memory; undefined when the answer lacks the fields (a Redis-like server that does not say). */
async function serverMemory(server: Redis): Promise<RedisMemory | undefined> {
  const fields = infoFields(await server.info('memory'));
  const usedBytes = Number(fields.get('used_memory'));
  const maxBytes = Number(fields.get('maxmemory'));
  const policy = fields.get('maxmemory_policy');
  return Number.isFinite(usedBytes) && Number.isFinite(maxBytes) && policy
    ? { usedBytes, maxBytes, policy }
    : undefined;
}

/** How full a server is: of its maxmemory, or (no maxmemory) 0, so that one with a limit counts as the fuller. */
function fill(m: RedisMemory): number {
  return m.maxBytes > 0 ? m.usedBytes / m.maxBytes : 0;
}

/**
 * Redis's memory and eviction policy from `INFO memory` (BullMQ itself needs INFO, so a managed Redis that refuses
 * CONFIG still answers it). On a cluster, the primary nearest its maxmemory, which fills first, and an evicting
 * policy if any primary has one. Undefined when the server refuses the command or does not say; an outage throws.
 */
export async function readRedisMemory(client: RedisClient): Promise<RedisMemory | undefined> {
  let all: (RedisMemory | undefined)[];
  try {
    all = await Promise.all(serversOf(client).map(serverMemory));
  } catch (err) {
    if (isOutageError(err)) {
      throw err;
    }
    return undefined;
  }
  const known = all.filter((m): m is RedisMemory => m !== undefined);
  const fullest = known.reduce<RedisMemory | undefined>((a, b) => (!a || fill(b) > fill(a) ? b : a), undefined);
  if (!fullest) {
    return undefined;
  }
  const evicting = known.find((m) => m.policy !== NO_EVICTION);
  return { ...fullest, policy: evicting?.policy ?? NO_EVICTION };
}

/**
 * `CONFIG GET maxmemory-policy` of every server: the evicting one if any; undefined when refused (managed Redis) or
 * when there is no server to ask (a cluster whose slots are not loaded yet).
 */
async function configuredPolicy(client: RedisClient): Promise<string | undefined> {
  const servers = serversOf(client);
  if (servers.length === 0) {
    return undefined;
  }
  try {
    const policies = await Promise.all(
      servers.map(async (server) => {
        const [, value] = (await server.config('GET', 'maxmemory-policy')) as string[];
        return value;
      }),
    );
    if (policies.some((p) => p === undefined)) {
      return undefined;
    }
    return policies.find((p) => p !== NO_EVICTION) ?? NO_EVICTION;
  } catch (err) {
    if (isOutageError(err)) {
      throw err;
    }
    return undefined;
  }
}

/**
 * Checks at start-up that Redis does not evict keys, and says so in one line: `info` when the policy is
 * `noeviction`; `error` when it evicts (an evicted key is a job gone, or half of one); `warn` when the server would not
 * say (CONFIG and INFO refused, or no answer in time). It never stops start-up: BullMQ itself only warns, an evicting
 * policy does nothing until `maxmemory` is reached, and the API takes events without Redis. The metric
 * `jeugdbrug_redis_maxmemory_policy` and its alert keep saying it after start-up (README, "Redis").
 */
export async function checkEvictionPolicy(client: RedisClient, log: Logger): Promise<void> {
  let policy: string | undefined;
  let readFrom: 'CONFIG GET' | 'INFO memory' = 'CONFIG GET';
  try {
    policy = await withTimeout(configuredPolicy(client), CHECK_ANSWER_MS, 'redis', 'CONFIG GET maxmemory-policy');
    if (policy === undefined) {
      readFrom = 'INFO memory';
      policy = (await withTimeout(readRedisMemory(client), CHECK_ANSWER_MS, 'redis', 'INFO memory'))?.policy;
    }
  } catch (err) {
    log.warn(errorFields(err), 'could not check the Redis maxmemory-policy: make sure it is noeviction');
    return;
  }
  if (policy === undefined) {
    log.warn('could not check the Redis maxmemory-policy (CONFIG GET and INFO refused): make sure it is noeviction');
  } else if (policy === NO_EVICTION) {
    log.info({ maxmemoryPolicy: policy, readFrom }, 'redis maxmemory-policy is noeviction');
  } else {
    log.error(
      { maxmemoryPolicy: policy, readFrom },
      'redis evicts keys when full (maxmemory-policy is not noeviction): queued jobs can vanish; set noeviction',
    );
  }
}
