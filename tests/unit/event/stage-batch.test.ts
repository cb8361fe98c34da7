import { grouped, perResource } from '../../../src/event/stage-batch';
import { DependencyUnavailableError } from '../../../src/kernel/outage';

/** A group function that records the groups it was given, answering each key with `key * 10`. */
function recording(
  opts: { failWhen?: (key: number) => boolean; hold?: Promise<void>; collect?: 'tick' | 'turn' } = {},
) {
  const groups: number[][] = [];
  const singles: number[] = [];
  const call = grouped<number, number>(
    async (keys) => {
      groups.push([...keys]);
      await opts.hold;
      if (keys.some((k) => opts.failWhen?.(k))) {
        throw new Error('the group statement failed');
      }
      return keys.map((k) => k * 10);
    },
    (key) => {
      singles.push(key);
      return opts.failWhen?.(key)
        ? Promise.reject(new Error(`key ${key} fails on its own too`))
        : Promise.resolve(key * 10);
    },
    { maxGroup: 5, ...(opts.collect ? { collect: opts.collect } : {}) },
  );
  return { call, groups, singles };
}

describe('grouped: the calls of concurrent jobs as one group', () => {
  it('answers each caller with its own value, in one group for the calls made together', async () => {
    const { call, groups, singles } = recording();
    await expect(Promise.all([1, 2, 3].map(call))).resolves.toEqual([10, 20, 30]);
    expect(groups).toEqual([[1, 2, 3]]);
    expect(singles).toEqual([]);
  });

  it('runs a lone call on its own, without a group', async () => {
    const { call, groups, singles } = recording();
    await expect(call(7)).resolves.toBe(70);
    expect(groups).toEqual([]);
    expect(singles).toEqual([7]);
  });

  it('splits at maxGroup', async () => {
    const { call, groups } = recording();
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map(call));
    expect(groups.map((g) => g.length)).toEqual([5, 2]);
  });

  it('one failing member fails alone: the group is retried member by member', async () => {
    const { call, groups, singles } = recording({ failWhen: (k) => k === 3 });
    const results = await Promise.allSettled([1, 2, 3, 4].map(call));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      10,
      20,
      'key 3 fails on its own too',
      40,
    ]);
    expect(groups).toEqual([[1, 2, 3, 4]]);
    expect(singles.sort()).toEqual([1, 2, 3, 4]);
  });

  it('an outage fails the whole group at once, without trying each member on its own', async () => {
    const singles: number[] = [];
    const call = grouped<number, number>(
      () => Promise.reject(new DependencyUnavailableError('redis', 'Redis did not answer within 1000 ms')),
      (k) => {
        singles.push(k);
        return Promise.resolve(k);
      },
    );
    const results = await Promise.allSettled([1, 2, 3].map(call));
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).name : r.value))).toEqual([
      'DependencyUnavailableError',
      'DependencyUnavailableError',
      'DependencyUnavailableError',
    ]);
    expect(singles).toEqual([]);
  });

  it('a per-member Error in the group answer rejects that member only', async () => {
    const call = grouped<number, number>(
      (keys) => Promise.resolve(keys.map((k) => (k === 2 ? new Error('no such row') : k))),
      (k) => Promise.resolve(k),
    );
    const results = await Promise.allSettled([1, 2, 3].map(call));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('group commit: calls that arrive while a group runs wait and go together as the next group', async () => {
    let release!: () => void;
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { call, groups } = recording({ hold });
    const first = [call(1), call(2)];
    // Let the first group start, then call while it is held.
    await new Promise((resolve) => setImmediate(resolve));
    const later = [call(3), call(4), call(5)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(groups).toEqual([[1, 2]]);
    release();
    await expect(Promise.all([...first, ...later])).resolves.toEqual([10, 20, 30, 40, 50]);
    expect(groups).toEqual([
      [1, 2],
      [3, 4, 5],
    ]);
  });
});

/** Calls made from separate callbacks of one turn of the event loop, as jobs woken by answers read in one poll. */
async function callsFromSeparateCallbacks(call: (key: number) => Promise<number>, keys: number[]): Promise<number[]> {
  return Promise.all(keys.map((k) => new Promise<number>((resolve) => setImmediate(() => resolve(call(k))))));
}

describe("grouped, collecting to the end of the event loop's turn", () => {
  it('by default a call made in a callback of its own goes alone, at the end of its tick', async () => {
    const { call, groups, singles } = recording();
    await expect(callsFromSeparateCallbacks(call, [1, 2, 3])).resolves.toEqual([10, 20, 30]);
    expect(groups).toEqual([]);
    expect(singles).toEqual([1, 2, 3]);
  });

  it("with collect 'turn' the calls of one turn's callbacks go as one group", async () => {
    const { call, groups, singles } = recording({ collect: 'turn' });
    await expect(callsFromSeparateCallbacks(call, [1, 2, 3])).resolves.toEqual([10, 20, 30]);
    expect(groups).toEqual([[1, 2, 3]]);
    expect(singles).toEqual([]);
  });

  it("with collect 'turn' a lone call still goes at once, on its own", async () => {
    const { call, groups, singles } = recording({ collect: 'turn' });
    await expect(call(7)).resolves.toBe(70);
    expect(groups).toEqual([]);
    expect(singles).toEqual([7]);
  });
});

describe('perResource', () => {
  it('makes one set of grouped calls per resource', () => {
    let made = 0;
    const of = perResource((_r: object) => ({ n: ++made }));
    const a = {};
    const b = {};
    expect(of(a)).toBe(of(a));
    expect(of(b)).not.toBe(of(a));
    expect(made).toBe(2);
  });
});
