import { ConnectionWaits, limitConnections, type Db } from '../../../src/kernel/db';
import { workerConnections } from '../../../src/runtime';

/** A Db whose calls each wait until the test ends them, counting how many are open at once. */
function heldDb() {
  const open: (() => void)[] = [];
  let most = 0;
  const hold = <T>(value: T): Promise<T> =>
    new Promise((resolve) => {
      open.push(() => resolve(value));
      most = Math.max(most, open.length);
    });
  const db: Db = {
    kind: 'postgres',
    query: <T>() => hold<T[]>([]),
    exec: () => hold(undefined),
    transaction: <T>(fn: (tx: Db) => Promise<T>) => hold(undefined).then(() => fn(db)),
    pingServer: () => Promise.resolve(),
    connectionWaits: new ConnectionWaits(),
    close: () => Promise.resolve(),
  };
  const endOldest = async (): Promise<void> => {
    open.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { db, open, endOldest, most: () => most };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('limitConnections: a share of the pool', () => {
  it('holds at most its limit of calls at once; the others start in order as calls end', async () => {
    const { db, open, endOldest, most } = heldDb();
    const limited = limitConnections(db, 2);
    const order: number[] = [];
    const calls = [0, 1, 2, 3, 4].map((i) => limited.query('SELECT 1').then(() => order.push(i)));
    await tick();
    expect(open).toHaveLength(2);
    for (let i = 0; i < 5; i++) {
      await endOldest();
    }
    await Promise.all(calls);
    expect({ most: most(), order }).toEqual({ most: 2, order: [0, 1, 2, 3, 4] });
  });

  it('counts a transaction as one connection until it ends, its own statements included', async () => {
    const { db, open, endOldest } = heldDb();
    const limited = limitConnections(db, 1);
    let inside = false;
    const tx = limited.transaction(async (t) => {
      inside = true;
      await t.query('SELECT 2');
    });
    const after = limited.query('SELECT 1');
    await tick();
    expect({ open: open.length, inside }).toEqual({ open: 1, inside: false });
    // The transaction's statement goes out on its connection, without waiting for a second one; the call after the
    // transaction still waits for it to end.
    await endOldest();
    expect({ open: open.length, inside }).toEqual({ open: 1, inside: true });
    await endOldest();
    await tx;
    await tick();
    expect(open).toHaveLength(1);
    await endOldest();
    await after;
  });

  it('fails a call that waited too long as a wait for the pool fails, and lets the next one in', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick'] });
    try {
      const { db, open, endOldest } = heldDb();
      const limited = limitConnections(db, 1);
      const first = limited.query('SELECT 1');
      const late = limited.query('SELECT 2');
      jest.advanceTimersByTime(5000);
      await expect(late).rejects.toThrow('timeout exceeded when trying to connect');
      const next = limited.query('SELECT 3');
      await endOldest();
      await first;
      await Promise.resolve();
      expect(open).toHaveLength(1);
      await endOldest();
      await next;
    } finally {
      jest.useRealTimers();
    }
  });

  it('leaves PGlite, one connection taken in turn, as it is', () => {
    const { db } = heldDb();
    const lite: Db = { ...db, kind: 'pglite' };
    expect(limitConnections(lite, 1)).toBe(lite);
  });
});

describe('workerConnections: what the workers of a ROLE=all process may hold', () => {
  it.each([
    [1, 1],
    [2, 1],
    [4, 3],
    [10, 8],
    [200, 150],
  ])('of a pool of %i, %i (a quarter, at least one, kept for the API once there are two)', (pool, workers) => {
    expect(workerConnections(pool)).toBe(workers);
  });
});
