import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Destination } from '../contracts/destination';
import { deliverQueueName, type QueueSet } from './queues';

/**
 * A destination's rate limit, held where it matters: when the request leaves. BullMQ's limiter (workers.ts) counts
 * a delivery when its job starts, and between start and send lie the grouped reads, the consent decision and the
 * audit, whose time varies with load; so requests that started in one window can reach the receiver bunched up.
 * Here each send takes a slot in a sliding window shared by every worker process: a sorted set in Redis of the
 * send times of the last `durationMs`, checked and added to in one Lua script against Redis's own clock (one clock
 * for all processes). The BullMQ limiter stays, so that jobs do not occupy worker slots only to wait here.
 *
 * rate-limiter-flexible (used for the API's limit) counts fixed windows, which let up to twice `max` through
 * around a window's edge; a receiver's "at most 3 per second" is a sliding promise, so this is a sliding log.
 */
const TAKE_SLOT = `
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local max = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < max then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, now}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now)}
`;

/**
 * Waits until the destination's rate limit lets one more request leave, and takes that slot. Answers the slot's
 * moment on Redis's clock (epoch ms), the clock the window is kept by; `undefined` when the destination has no limit.
 */
export async function takeSendSlot(queues: QueueSet, destination: Destination): Promise<number | undefined> {
  const limit = destination.rateLimit;
  if (!limit) {
    return undefined;
  }
  const client = await queues.timed(queues.redisClient(), 'redis client');
  // The queue's own prefix: on a Redis Cluster the key lives in the destination queue's hash slot.
  const key = `${queues.prefixFor(deliverQueueName(destination.id))}:send-window:${destination.id}`;
  const member = randomUUID();
  for (;;) {
    const [taken, ms] = (await queues.timed(
      client.eval(TAKE_SLOT, 1, key, limit.max, limit.durationMs, member),
      'take a send slot',
    )) as [number, number];
    if (taken === 1) {
      return ms;
    }
    await sleep(ms);
  }
}
