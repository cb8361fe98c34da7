import type { Db } from '../../src/kernel/db';

/** A pause at one point of a request: `reached` once it is there, `release` lets it go on. */
export interface Gate {
  readonly reached: Promise<void>;
  release(): void;
  /** Puts the app's `Db` back as it was. */
  restore(): void;
}

function newGate(restore: () => void): Gate & { arrive(): Promise<void> } {
  let arrived!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => (arrived = r));
  const released = new Promise<void>((r) => (release = r));
  return {
    reached,
    release,
    restore,
    arrive: () => {
      arrived();
      return released;
    },
  };
}

type MutableDb = { -readonly [K in keyof Db]: Db[K] };

/** Holds the next statement of the app's pool whose text contains `sql` until the gate is released. */
export function holdBefore(appDb: Db, sql: string): Gate {
  const db = appDb as MutableDb;
  const query = db.query;
  const gate = newGate(() => (db.query = query));
  let armed = true;
  db.query = async <T>(text: string, params?: readonly unknown[]): Promise<T[]> => {
    if (armed && text.includes(sql)) {
      armed = false;
      await gate.arrive();
    }
    return query<T>(text, params);
  };
  return gate;
}

/** Holds the next transaction that runs a statement containing `sql` after it, before it commits. */
export function holdAfterInTransaction(appDb: Db, sql: string): Gate {
  const db = appDb as MutableDb;
  const transaction = db.transaction;
  const gate = newGate(() => (db.transaction = transaction));
  let armed = true;
  db.transaction = <T>(fn: (tx: Db) => Promise<T>): Promise<T> =>
    transaction((tx) =>
      fn({
        ...tx,
        query: async <R>(text: string, params?: readonly unknown[]): Promise<R[]> => {
          const rows = await tx.query<R>(text, params);
          if (armed && text.includes(sql)) {
            armed = false;
            await gate.arrive();
          }
          return rows;
        },
      }),
    );
  return gate;
}
