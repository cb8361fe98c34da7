import DataLoader from 'dataloader';
import { isOutageError } from '../kernel/outage';

/**
 * Stages that work in groups. Each BullMQ job still runs on its own (its own lock, attempts, backoff, dead letter,
 * idempotency key), but the statements that the jobs of one worker process make at about the same moment are
 * coalesced into one statement over the group: the map jobs' reads of their events, their consents, their
 * decide-and-create-delivery writes and their deliver jobs (one `addBulk`); the deliver jobs' reads and outcomes.
 *
 * The grouping works like group commit (and like the audit writer's): while `maxInFlight` groups of a kind are
 * running, the calls that arrive wait and form the next group. At low load a call goes out at once, alone (no
 * added latency); under load the groups grow with the backlog, up to `maxGroup`. DataLoader (graphql/dataloader)
 * does the collecting; this file adds the group-commit schedule and the fallback below.
 *
 * One bad member cannot fail its neighbours: when the group's statement throws, every member is run on its own
 * (`each`), and only those that fail on their own see an error; an outage (isOutageError) fails the whole group at
 * once. A crash mid-group loses nothing: no job completes
 * before its own part of the group has committed, and every group write is safe to make twice (each checks the
 * state it moves from), so a member run again after a partly committed group finds its part done.
 */

export interface GroupOptions {
  /** The most members in one group. */
  readonly maxGroup?: number;
  /** How many groups of this kind may run at once before new calls wait for one to finish. */
  readonly maxInFlight?: number;
  /**
   * How long a group collects while a slot is free: to the end of the current tick (`tick`, the default), or of the
   * event loop's turn (`turn`: the I/O callbacks of one poll, so calls made by jobs woken by different answers).
   */
  readonly collect?: 'tick' | 'turn';
}

export type GroupCall<K, V> = (key: K) => Promise<V>;

/**
 * A function that coalesces concurrent calls: `group` answers for a group of keys (a value or an Error per key, in
 * order); when it throws, `each` answers each key on its own.
 */
export function grouped<K, V>(
  group: (keys: readonly K[]) => Promise<readonly (V | Error)[]>,
  each: (key: K) => Promise<V>,
  opts: GroupOptions = {},
): GroupCall<K, V> {
  const maxInFlight = opts.maxInFlight ?? 1;
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const loader = new DataLoader<K, V>(
    async (keys) => {
      inFlight++;
      try {
        if (keys.length === 1) {
          return [await each(keys[0]!).catch(asError)];
        }
        try {
          return await group(keys);
        } catch (err) {
          // A database or Redis that is down fails every member alike: trying each on its own would only wait for
          // the same outage once per member, and leave as many commands queued for when the connection returns.
          if (isOutageError(err)) {
            return keys.map(() => asError(err));
          }
          return await Promise.all(keys.map((k) => each(k).catch(asError)));
        }
      } finally {
        inFlight--;
        // Errors in a group are per key: DataLoader hands each Error to that key's caller only.
        while (inFlight < maxInFlight && waiting.length > 0) {
          waiting.shift()!();
        }
      }
    },
    {
      cache: false,
      maxBatchSize: opts.maxGroup ?? 100,
      // Group commit: go at once when a slot is free, otherwise keep collecting until one is. "At once" is the end of
      // the tick, or with `collect: 'turn'` the end of the event loop's turn: the answers that arrived together
      // (the HTTP answers of several deliveries, read in one poll) then make one group instead of one each.
      batchScheduleFn: (dispatch) => {
        const go = () => (inFlight < maxInFlight ? dispatch() : waiting.push(dispatch));
        if (opts.collect === 'turn') {
          setImmediate(go);
        } else {
          process.nextTick(go);
        }
      },
    },
  );
  return (key) => loader.load(key);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The grouped calls of one resource (a database, a queue set), made once and shared by every job of the process
 * that uses it. Keyed weakly, so a test's closed database takes its groups with it.
 */
export function perResource<R extends object, T>(make: (resource: R) => T): (resource: R) => T {
  const made = new WeakMap<R, T>();
  return (resource) => {
    let t = made.get(resource);
    if (!t) {
      t = make(resource);
      made.set(resource, t);
    }
    return t;
  };
}

/**
 * Both answers, once both have settled: two independent steps of a job whose round trips go out at once instead of
 * one after the other. Unlike `Promise.all`, a failure of one is thrown only after the other has settled too, so a
 * job never ends (and is retried) while a write it started is still on its way.
 */
export async function settledTogether<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === 'rejected') {
    throw ra.reason;
  }
  if (rb.status === 'rejected') {
    throw rb.reason;
  }
  return [ra.value, rb.value];
}
