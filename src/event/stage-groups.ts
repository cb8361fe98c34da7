import type { Db } from '../kernel/db';
import {
  childKey,
  decideAndCreateDeliveries,
  decideAndCreateDelivery,
  finishDeliveries,
  finishDeliveriesUnlessConsentsChanged,
  finishDelivery,
  getDeliveryWorks,
  getSealedEvents,
  insertEvents,
  listStoredConsents,
  listStoredConsentsOfChildren,
  recordChildDisclosures,
  referralsRefusedAtReceipt,
  resetDestinationFailures,
  resetFailuresOfDestinations,
  tryGetDeliveryWork,
  tryGetSealedEvent,
  type ConsentWriter,
  type DeliveryFinish,
  type DeliveryRow,
  type DeliveryWork,
  type EventRow,
  type InsertedEvents,
  type NewEventWithIdentifier,
  type NewChildDisclosure,
  type NewDecidedDelivery,
  type ReferralChecks,
  type SealedEvent,
} from './event-store';
import type { StoredConsent } from '../policy/consent-cache';
import { grouped, perResource, type GroupCall } from './stage-batch';
import type { MapJobData, QueueSet } from './queues';

/**
 * The statements of the map and deliver stages, each coalesced over the jobs that make it at about the same moment
 * (stage-batch.ts). Same answers as the event store's single-row functions they stand for; only the number of
 * round trips differs.
 */
export interface StageStatements {
  readonly sealedEvent: GroupCall<string, (EventRow & SealedEvent) | undefined>;
  /** A child's consents as stored (id, version and text), for a cache of what is derived from them (consent-cache.ts). */
  readonly storedConsents: GroupCall<{ tenant: string; patientBsn: string }, StoredConsent[]>;
  readonly decideAndCreateDelivery: GroupCall<NewDecidedDelivery, DeliveryRow>;
  readonly deliveryWork: GroupCall<string, DeliveryWork | undefined>;
  readonly finishDelivery: GroupCall<DeliveryFinish, boolean>;
  readonly resetDestinationFailures: GroupCall<string, void>;
  /**
   * What a delivered child's event disclosed, for withdrawal notices (withdrawal-notice.ts), then, in the group's
   * second statement, whether the child's consents changed since the delivery's decision read them, and, where they
   * did not, the delivery finished as `delivered`. Two statements for the group, the finish included.
   */
  readonly recordDeliveredDisclosure: GroupCall<DisclosureToRecord, DisclosureChecked>;
}

/** A disclosure to record, with the child's consents as its decision read them (none to compare: not checked). */
export type RecordedDisclosure = NewChildDisclosure & {
  readonly patientBsn: string;
  readonly consentsSeen: readonly string[] | undefined;
};

/** A disclosure to record and the finish of its delivery, made with the check when the consents are unchanged. */
export type DeliveredDisclosure = RecordedDisclosure & {
  readonly delivered: DeliveryFinish & { readonly step: 'delivered' };
};

/** What the check found: the consent events that changed the child's consents (none, nearly always). */
export interface DisclosureChecked {
  readonly changedBy: ConsentWriter[];
  /**
   * The delivery was still pending and is now finished. Never when `changedBy` is not empty: that delivery is left
   * pending for its caller to finish once it has dealt with the change.
   */
  readonly finished: boolean;
}

/** A member of the group: with a delivery to finish, or without (only checked). */
export type DisclosureToRecord = RecordedDisclosure & Partial<Pick<DeliveredDisclosure, 'delivered'>>;

/**
 * Records the disclosures (committed), then reads the children's consents in a statement of its own, whose snapshot
 * is taken after that commit: a consent its read does not see was committed later, so that consent's search for
 * the child's disclosures sees these (the handshake of withdrawal-notice.ts). The same statement as the insert would
 * not do: its snapshot is taken before its own insert commits. The read's statement also finishes each delivery
 * whose child's consents it saw unchanged: a delivery is only ever finished after a check that found nothing to
 * notice, and one left pending by a crash before it is recorded again by its retry, check included.
 */
async function recordDisclosuresAndCheck(db: Db, ds: readonly DisclosureToRecord[]): Promise<DisclosureChecked[]> {
  await recordChildDisclosures(db, ds);
  if (ds.every((d) => !d.consentsSeen && !d.delivered)) {
    return ds.map(() => ({ changedBy: [], finished: false }));
  }
  const { finished, changed } = await finishDeliveriesUnlessConsentsChanged(
    db,
    'delivered',
    ds.map((d) => ({
      check: d.consentsSeen && { tenant: d.tenant, patientBsn: d.patientBsn, seen: d.consentsSeen },
      finish: d.delivered,
    })),
  );
  return ds.map((_, i) => ({ changedBy: changed.get(i) ?? [], finished: finished.has(i) }));
}

/** Reads many, answers each: the row of each key, or undefined. */
function byKey<T, K>(rows: readonly T[], keyOf: (row: T) => K, keys: readonly K[]): (T | undefined)[] {
  const found = new Map(rows.map((r) => [keyOf(r), r]));
  return keys.map((k) => found.get(k));
}

export const stageStatements = perResource((db: Db): StageStatements => {
  const storedConsents: StageStatements['storedConsents'] = grouped(
    async (children) => {
      const found = await listStoredConsentsOfChildren(db, children);
      return children.map((c) => found.get(childKey(c.tenant, c.patientBsn)) ?? []);
    },
    (c) => listStoredConsents(db, c.tenant, c.patientBsn),
    { maxInFlight: 2, collect: 'turn' },
  );
  // With and without a delivery to finish, in the same groups.
  const recordDisclosure = grouped(
    (ds: readonly DisclosureToRecord[]) => recordDisclosuresAndCheck(db, ds),
    async (d: DisclosureToRecord) => (await recordDisclosuresAndCheck(db, [d]))[0]!,
    { collect: 'turn' },
  );
  return {
    storedConsents,
    sealedEvent: grouped(
      async (ids) => byKey(await getSealedEvents(db, ids), (r) => r.id, ids),
      (id) => tryGetSealedEvent(db, id),
      { maxInFlight: 2, collect: 'turn' },
    ),
    decideAndCreateDelivery: grouped(
      async (ds) => {
        const created = await decideAndCreateDeliveries(db, ds);
        // An event the group statement did not move (already decided, a duplicate job) is answered on its own:
        // its existing delivery, or the error that it cannot be decided.
        return Promise.all(
          ds.map((d) => {
            const row = created.get(d.inboxId);
            return row ? Promise.resolve(row) : decideAndCreateDelivery(db, d).catch((e: Error) => e);
          }),
        );
      },
      (d) => decideAndCreateDelivery(db, d),
      { collect: 'turn' },
    ),
    deliveryWork: grouped(
      async (ids) => byKey(await getDeliveryWorks(db, ids), (r) => r.id, ids),
      (id) => tryGetDeliveryWork(db, id),
      { maxInFlight: 2, collect: 'turn' },
    ),
    finishDelivery: grouped(
      async (ds) => {
        // One statement per step (nearly always one step: `delivered`).
        const answers = new Map<DeliveryFinish, boolean>();
        for (const step of new Set(ds.map((d) => d.step))) {
          const ofStep = ds.filter((d) => d.step === step);
          const finished = await finishDeliveries(db, step, ofStep);
          ofStep.forEach((d) => answers.set(d, finished.has(d.deliveryId)));
        }
        return ds.map((d) => answers.get(d) ?? false);
      },
      (d) => finishDelivery(db, d),
      { collect: 'turn' },
    ),
    resetDestinationFailures: grouped(
      async (ids) => {
        await resetFailuresOfDestinations(db, [...new Set(ids)]);
        return ids.map(() => undefined);
      },
      (id) => resetDestinationFailures(db, id),
      { collect: 'turn' },
    ),
    recordDeliveredDisclosure: recordDisclosure,
  };
});

/** A deliver job to add: the delivery's current round on its destination's queue. */
export interface DeliverJobToAdd {
  readonly delivery: Pick<DeliveryRow, 'id' | 'destination' | 'round'>;
  readonly traceId: string;
}

/** `QueueSet.enqueueDeliver`, coalesced: the deliver jobs of a group go to Redis in one `addBulk` per destination. */
export const groupedEnqueueDeliver = perResource((queues: QueueSet): GroupCall<DeliverJobToAdd, void> =>
  grouped(
    async (jobs) => {
      await queues.enqueueDelivers(jobs);
      return jobs.map(() => undefined);
    },
    (j) => queues.enqueueDeliver(j.delivery, j.traceId),
    { maxInFlight: 2, collect: 'turn' },
  ),
);

/**
 * `QueueSet.enqueueMap`, coalesced: the map jobs of the requests being received at about the same moment go to Redis
 * in one `addBulk` (one event per POST at a steady rate otherwise costs a round trip each).
 */
export const groupedEnqueueMap = perResource((queues: QueueSet): GroupCall<MapJobData, void> =>
  grouped(
    async (items) => {
      await queues.enqueueMap(items);
      return items.map(() => undefined);
    },
    (item) => queues.enqueueMap([item]),
    { maxInFlight: 2 },
  ),
);

/**
 * `insertEvents`, coalesced over the requests being received at about the same moment: one statement for the events
 * of several requests (one event per POST at a steady rate otherwise costs a statement each). A request's events stay
 * together, so when the group's statement fails each request's own statement is still all or nothing. Answers per
 * request the ids of its rows that were inserted and its referrals that were refused, as `insertEvents` does.
 */
export const groupedInsertEvents = perResource((db: Db): GroupCall<readonly NewEventWithIdentifier[], InsertedEvents> =>
  grouped(
    async (requests) => {
      const { inserted, refused } = await insertEvents(db, requests.flat());
      return requests.map((rows) => ({
        inserted: new Set(rows.filter((r) => inserted.has(r.id)).map((r) => r.id)),
        refused: new Map(rows.filter((r) => refused.has(r.id)).map((r) => [r.id, refused.get(r.id)!])),
      }));
    },
    (rows) => insertEvents(db, rows),
    // A request may carry many events: a bounded number of requests keeps one statement's parameters moderate.
    { maxGroup: 16, maxInFlight: 2 },
  ),
);

/**
 * `referralsRefusedAtReceipt`, coalesced over the requests being received at about the same moment: one statement
 * checks the new referrals of several requests (one event per POST at a steady rate otherwise costs a statement each,
 * the receipt's one statement that `groupedInsertEvents` did not share). Each request gets the checks of its own
 * referrals, by their position in its list, as the statement alone would answer them: a check only reads what was
 * stored before, so the requests of a group do not see each other's referrals, no more than concurrent statements
 * would; the insert that follows holds each against what was stored meanwhile.
 */
export const groupedReferralChecks = perResource(
  (db: Db): GroupCall<readonly NewEventWithIdentifier[], ReferralChecks> =>
    grouped(
      async (requests) => {
        const all = await referralsRefusedAtReceipt(db, requests.flat());
        let start = 0;
        return requests.map((rows) => {
          const own = <V>(found: ReadonlyMap<number, V>): Map<number, V> =>
            new Map(rows.flatMap((_, n) => (found.has(start + n) ? [[n, found.get(start + n)!] as const] : [])));
          const checks = { refused: own(all.refused), endedCounts: own(all.endedCounts) };
          start += rows.length;
          return checks;
        });
      },
      (rows) => referralsRefusedAtReceipt(db, rows),
      // As the insert: a bounded number of requests keeps one statement's parameters moderate.
      { maxGroup: 16, maxInFlight: 2 },
    ),
);
